"""Gaps as pandas and GeoPandas frames, for notebooks: ``hymotep.gaps(...)``, ``hymotep.gap_summary(...)``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import geopandas
import pandas
from shapely.geometry import shape

from hygor import Catalog
from hymotep.production import Production
from hymotep.work_units import COLUMNS, GAP_STATES, GapFilter, State


def gaps(
    collection: str | Sequence[str] = (),
    *,
    request: str | Sequence[str] = (),
    tile: str | Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
    state: State | Sequence[State] = GAP_STATES,
    chain_version: str | None = None,
    geometry: bool = False,
    catalog: Catalog | None = None,
) -> pandas.DataFrame:
    """One row per unit of work (columns ``hymotep.gaps.COLUMNS``); with ``geometry``, a GeoDataFrame of the
    tile footprints (EPSG:4326). By default the gaps only: add ``state=("done", "invalid", ...)`` for more."""
    production = Production(catalog)
    wanted = _filter(collection, request, tile, since, until, state, chain_version)
    frame = pandas.DataFrame.from_records(production.gaps(wanted), columns=list(COLUMNS))
    if not geometry:
        return frame
    footprints = production.tile_footprints(sorted(frame["tile"].unique()))
    shapes = {tile_id: shape(footprint) for tile_id, footprint in footprints.items()}
    return geopandas.GeoDataFrame(frame, geometry=frame["tile"].map(shapes).tolist(), crs="EPSG:4326")


def gap_summary(
    collection: str | Sequence[str] = (),
    *,
    request: str | Sequence[str] = (),
    tile: str | Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
    chain_version: str | None = None,
    by_request: bool = False,
    by_tile: bool = False,
    catalog: Catalog | None = None,
) -> pandas.DataFrame:
    """Units per collection (rows; per request with ``by_request``, per tile with ``by_tile``) and state
    (columns), zeros included."""
    wanted = _filter(collection, request, tile, since, until, GAP_STATES, chain_version)
    rows = Production(catalog).gap_summary(wanted, by_request=by_request, by_tile=by_tile)
    index = [*(["request"] if by_request else []), "collection", *(["tile"] if by_tile else [])]
    frame = pandas.DataFrame.from_records(rows, columns=[*index, "state", "units"])
    return frame.pivot_table(index=index, columns="state", values="units", fill_value=0, aggfunc="sum")


def _filter(
    collection: str | Sequence[str],
    request: str | Sequence[str],
    tile: str | Sequence[str],
    since: date | None,
    until: date | None,
    state: State | Sequence[State],
    chain_version: str | None,
) -> GapFilter:
    def listed(value: str | Sequence[str]) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value)

    return GapFilter(
        collections=listed(collection),
        requests=listed(request),
        tiles=listed(tile),
        since=since,
        until=until,
        states=listed(state),  # type: ignore[arg-type]  # checked against STATES by the query planner
        chain_version=chain_version,
    )
