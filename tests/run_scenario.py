"""A small production for the run tests: surfwater-water on 31TCJ, whose L2A inputs are real MUSCATE products
on disk, and a test executable in Surfwater's place (fake_chain.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import fake_chain
from gap_scenario import at, item
from products import write_muscate_l2a

from hygor import Catalog
from hygor.db import Database
from hygor.loader import ItemLoader
from hymotep.production import Production
from hymotep.settings import ProductionSettings

TILE = "31TCJ"
L2A_DELAY = timedelta(minutes=2)


def write_request(folder: Path, name: str, chain: str, start: str, end: str, tiles: tuple[str, ...] = (TILE,)) -> Path:
    """A request file for ``chain`` on ``tiles`` from ``start`` to ``end``."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nrequester: {{name: Test}}\nzone: {{tiles: [{', '.join(tiles)}]}}\nchains: [{chain}]\n"
        f"period: {{start: {start}, end: {end}}}\npriority: 2\n"
    )
    return path


@dataclass(frozen=True)
class RunScenario:
    production: Production
    env: dict[str, str]  # for `hesp` commands: the database, storage, work and chain path
    storage: Path
    record: Path

    def states(self) -> dict[str, int]:
        with self.production.catalog.database().connect() as conn:
            rows = conn.execute("SELECT state, count(*) AS n FROM hesp.jobs GROUP BY state").fetchall()
        return {r["state"]: r["n"] for r in rows}

    def products(self, tile: str | None = None) -> list[str]:
        with self.production.catalog.database().connect() as conn:
            rows = conn.execute(
                "SELECT id FROM hesp.inventory WHERE collection = 'surfwater-water' AND (%(tile)s::text IS NULL"
                " OR tile = %(tile)s) ORDER BY id",
                {"tile": tile},
            )
            return [r["id"] for r in rows]

    def runs(self) -> list[str]:
        """The inputs of every run of the test chain, one a run."""
        return self.record.read_text().split() if self.record.exists() else []


def build(database_url: str, tmp_path: Path, acquisitions: int = 4, tiles: tuple[str, ...] = (TILE,)) -> RunScenario:
    """``acquisitions`` L1C of each tile (31TCJ) every 5 days from 2023-01-03, each with its L2A product on disk."""
    days = [(at("01-03") + timedelta(days=5 * n)) for n in range(acquisitions)]
    products = tmp_path / "l2a"
    folders = [write_muscate_l2a(products, tile=t, when=day + L2A_DELAY, version="4-10") for t in tiles for day in days]
    with ItemLoader(Database(database_url)) as loader:
        loader.load([item("sentinel-2-l1c", t, day) for t in tiles for day in days])
    env = {
        "HESP_DATABASE_URL": database_url,
        "HESP_STORAGE": str(tmp_path / "storage"),
        "HESP_WORK_DIR": str(tmp_path / "work"),
        "HESP_CHAIN_PATH": str(fake_chain.install(tmp_path / "bin")),
        "FAKE_CHAIN_RECORD": str(tmp_path / "runs.txt"),
    }
    settings = ProductionSettings(
        database_url=database_url, storage=tmp_path / "storage", work_dir=tmp_path / "work",
        chain_path=env["HESP_CHAIN_PATH"],
    )  # fmt: skip
    production = Production(Catalog(settings))
    report = production.catalog.ingest(folders)
    assert report.ok, report
    production.add_request(write_request(tmp_path, "water", "surfwater-water", "2023-01-01", "2023-12-31", tiles))
    return RunScenario(production, env, tmp_path / "storage", tmp_path / "runs.txt")
