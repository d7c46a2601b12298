"""The inputs of one job: the items its chain reads for the unit of work, found in the inventory.

A per-acquisition unit reads the primary items of its acquisition slot, the same-day auxiliary items of its date
(CAMS), the static ones of its tile (DEM), optional ones when they are there, and, for a multi-temporal chain,
the previous valid product of the tile (NOMINAL) or the next acquisitions to initialise on (BACKWARD). A per-period
unit reads the valid primary items of its period, or of its synthesis window (WASP: 23 days either side of the
15th). Items come whole from pgSTAC, as the API serves them, so their asset paths are at hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hygor.hydration import hydrated, stripped
from hymotep.chains import ChainDefinition
from hymotep.errors import HymotepError
from hymotep.queue import Job
from hymotep.sql import run_query
from hymotep.storage import internal_href
from hymotep.work_units import Connection

SLOT_SECONDS = 43200  # hesp.acquisition_slot: half-days
# Folders that are a product whole, whatever files of it the item lists (a GRD listing only its manifest, a CAMS
# field inside its Earth Explorer data folder).
PRODUCT_FOLDERS = (".SAFE", ".DBL.DIR")


class MissingInput(HymotepError):
    """An input of the job is not in the catalogue or not on disk (removed since the job was planned)."""


@dataclass(frozen=True)
class InputItem:
    role: str  # primary, auxiliary, previous or following
    item: dict[str, Any]

    @property
    def collection(self) -> str:
        return str(self.item["collection"])

    @property
    def id(self) -> str:
        return str(self.item["id"])

    def files(self) -> list[Path]:
        """The local files of its assets (their internal location: a stored product's href is public)."""
        hrefs = (internal_href(asset) for asset in self.item.get("assets", {}).values())
        return [Path(h.removeprefix("file://")) for h in hrefs if "://" not in h or h.startswith("file://")]

    def product_path(self) -> Path:
        """The product on disk: the folder holding all its asset files (a MUSCATE folder), the ``.SAFE`` or
        ``.DBL.DIR`` folder they lie in (its ``.HDR`` header beside it counts as in it), or its one file."""
        files = [_data_of(file) for file in self.files()]
        if not files:
            raise MissingInput(f"input {self.collection}/{self.id} has no local asset to read")
        path = Path(os.path.commonpath(files)) if len(files) > 1 else files[0]
        path = next((folder for folder in [path, *path.parents] if folder.name.endswith(PRODUCT_FOLDERS)), path)
        if not path.exists():
            raise MissingInput(f"input {self.collection}/{self.id} is not on disk: {path} is missing")
        return path


def _data_of(file: Path) -> Path:
    """An Earth Explorer header stands for its data folder: several products' headers share a folder."""
    return file.with_name(file.name.removesuffix(".HDR") + ".DBL.DIR") if file.name.endswith(".HDR") else file


@dataclass(frozen=True)
class Unit:
    """What one job makes: a tile at an acquisition, or a tile over a period [start, end] (end included)."""

    tile: str
    slot: int
    acquired: datetime
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True)
class JobInputs:
    unit: Unit
    primary: tuple[InputItem, ...]
    auxiliary: tuple[InputItem, ...] = ()
    previous: InputItem | None = None
    following: tuple[InputItem, ...] = ()

    def all(self) -> list[InputItem]:
        return [*self.primary, *self.auxiliary, *([self.previous] if self.previous else []), *self.following]

    def lineage(self) -> list[tuple[str, str]]:
        """(collection, id) of every input, for the products' ``derived_from`` links."""
        return list(dict.fromkeys((i.collection, i.id) for i in self.all()))


def resolve_inputs(conn: Connection, job: Job, chain: ChainDefinition) -> JobInputs:
    """The items ``job`` reads; ``MissingInput`` when its primary input is gone."""
    found = resolve_batch(conn, [(job, chain)])[0]
    if isinstance(found, MissingInput):
        raise found
    return found


def resolve_batch(conn: Connection, jobs: list[tuple[Job, ChainDefinition]]) -> list[JobInputs | MissingInput]:
    """``resolve_inputs`` of a batch of jobs, in their order (a job's ``MissingInput`` in its place): the primary
    items of all acquisition units in one query, the items of all jobs in one more."""
    acquisitions = [(job, chain) for job, chain in jobs if chain.unit != "per-period"]
    params = {
        "collections": [chain.primary_input.collection for _, chain in acquisitions],
        "tiles": [job.tile for job, _ in acquisitions],
        "slots": [job.slot for job, _ in acquisitions],
    }
    primaries: dict[int, list[dict[str, Any]]] = {job.id: [] for job, _ in acquisitions}
    for row in _rows(conn, "acquisition_inputs", **params) if acquisitions else []:
        primaries[acquisitions[row["unit"] - 1][0].id].append(row)
    rows: list[_InputRows | MissingInput] = []
    for job, chain in jobs:
        try:
            rows.append(_input_rows(conn, job, chain, primaries.get(job.id, [])))
        except MissingInput as exc:
            rows.append(exc)
    items = _items(conn, [row for found in rows if not isinstance(found, MissingInput) for row in found.all()])
    return [found if isinstance(found, MissingInput) else found.inputs(items) for found in rows]


@dataclass(frozen=True)
class _InputRows:
    """The inventory rows of one job's inputs, by role: what ``JobInputs`` holds, before the items."""

    unit: Unit
    primary: list[dict[str, Any]]
    auxiliary: list[dict[str, Any]]
    previous: list[dict[str, Any]]
    following: list[dict[str, Any]]

    def all(self) -> list[dict[str, Any]]:
        return [*self.primary, *self.auxiliary, *self.previous, *self.following]

    def inputs(self, items: dict[tuple[str, str], dict[str, Any]]) -> JobInputs | MissingInput:
        missing = [f"{r['collection']}/{r['id']}" for r in self.all() if (r["collection"], r["id"]) not in items]
        if missing:
            return MissingInput(f"input {missing[0]} is in the inventory but not in the catalogue")
        return JobInputs(
            unit=self.unit,
            primary=tuple(InputItem("primary", items[r["collection"], r["id"]]) for r in self.primary),
            auxiliary=tuple(InputItem("auxiliary", items[r["collection"], r["id"]]) for r in self.auxiliary),
            previous=next((InputItem("previous", items[r["collection"], r["id"]]) for r in self.previous), None),
            following=tuple(InputItem("following", items[r["collection"], r["id"]]) for r in self.following),
        )


def _input_rows(conn: Connection, job: Job, chain: ChainDefinition, primaries: list[dict[str, Any]]) -> _InputRows:
    """The rows of ``job``'s inputs; ``primaries``: those of its acquisition slot, for an acquisition unit."""
    primary = chain.primary_input.collection
    if chain.unit == "per-period":
        assert chain.period is not None
        start = datetime.fromtimestamp(job.slot * SLOT_SECONDS, UTC).date()
        rows = _rows(conn, "period_inputs", collection=primary, tile=job.tile, period=chain.period, start=start,
                     **chain.window_params)  # fmt: skip
        end = rows[0]["period_end"] if rows else start  # first day after the period (hesp.period_end)
        unit = Unit(job.tile, job.slot, datetime.combine(start, datetime.min.time(), UTC), start, end - timedelta(1))
    else:
        rows = primaries
        unit = Unit(job.tile, job.slot, min((r["acquired"] for r in rows), default=datetime.now(UTC)))
    if not rows:
        raise MissingInput(f"no valid {primary} item for {job.tile} in this unit any more (removed since planning?)")
    same_day, static = chain.auxiliary("same-day", optional=True), chain.auxiliary("static", optional=True)
    auxiliary = [  # the optional ones too, when they are there; no query for a kind the chain does not read
        *(_rows(conn, "same_day_inputs", collections=same_day, tile=job.tile,
                day=unit.acquired.astimezone(UTC).date()) if same_day else []),
        *(_rows(conn, "static_inputs", collections=static, tile=job.tile) if static else []),
    ]  # fmt: skip
    previous: list[dict[str, Any]] = []
    following: list[dict[str, Any]] = []
    if job.mode == "nominal":
        previous = _rows(conn, "previous_product", collection=job.collection, tile=job.tile, slot=job.slot)
    if job.mode == "backward" and chain.dependencies is not None:
        count = chain.dependencies.init_backward_count - 1
        where = {"collection": primary, "tile": job.tile, "slot": job.slot}
        following = _rows(conn, "following_inputs", **where, count=count)
    return _InputRows(unit, rows, auxiliary, previous, following)


def _rows(conn: Connection, name: str, **params: Any) -> list[dict[str, Any]]:
    return list(conn.execute(run_query(name), params).fetchall())


def _items(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The items of ``rows`` found in pgSTAC, hydrated as the STAC API serves them, by (collection, id)."""
    if not rows:
        return {}
    params = {"collections": [r["collection"] for r in rows], "ids": [r["id"] for r in rows]}
    items = {}
    for row in conn.execute(run_query("items"), params).fetchall():
        items[row["collection"], row["id"]] = hydrated(row, stripped(row["base_item"] or {}))
    return items
