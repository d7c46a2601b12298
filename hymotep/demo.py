"""The demo's production: synthetic Sentinel-2 inputs over real tiles, one request, and the reference chains.

Three tiles of the Pyrenees and the Garonne plain (mountains with snow, lakes and rivers), January and
February 2024: Sentinel-2 L1C every 5 days in the SAFE layout, each tile's DEM and each day's CAMS, made once
under ``<home>/demo`` and ingested like any input. The request asks for every Sentinel-2 chain that runs here:
MAJA L2A, LIS snow, Surfwater water and the WASP monthly synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from hymotep.reference import launchers
from hymotep.reference.synthetic import make_inputs

TILES = ("31TCH", "31TDH", "31TCJ")
START, END = date(2024, 1, 1), date(2024, 2, 29)
CHAINS = ("maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly")
REQUEST = f"""\
# The demo's request: every Sentinel-2 chain of the centre over three tiles, two winter months.
name: demo
title: Hespérides demo, Pyrenees and Garonne, January-February 2024
requester: {{name: Hespérides demo}}
zone: {{tiles: [{", ".join(TILES)}]}}
chains: [{", ".join(CHAINS)}]
period: {{start: {START}, end: {END}}}
priority: 1
"""
DONE_MARKER = ".complete"


@dataclass(frozen=True)
class DemoFiles:
    inputs: list[Path]  # what to ingest: the DEM and CAMS items, the folder of L1C products
    request: Path
    chain_path: Path  # the reference chains under the real binaries' names
    made: bool  # False when an earlier demo made them


def demo_files(home: Path) -> DemoFiles:
    """The demo's inputs, request and chain launchers under ``home``; the inputs are made on the first run."""
    root = (home / "demo").absolute()
    inputs = root / "inputs"
    made = not (inputs / DONE_MARKER).exists()
    if made:
        make_inputs(inputs, TILES, START, END)
        (inputs / DONE_MARKER).touch()
    request = root / "demo-request.yaml"
    request.write_text(REQUEST)
    auxiliary = sorted((inputs / "dem-tiles").glob("*.json")) + sorted((inputs / "cams-aerosol").glob("*.json"))
    return DemoFiles([*auxiliary, inputs / "sentinel-2-l1c"], request, launchers.install(root / "bin"), made)
