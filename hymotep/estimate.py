"""Capacity estimates of production requests: products, CPU-hours and storage a year, from the chains' resources.

How many acquisitions a tile gets comes from the inventory where its inputs are harvested (``observed``), else
from a revisit model of the mission. A product costs its chain's ``resources``; a (chain, tile) pair asked for
by several requests is produced once, so totals and capacity plans count it once. Pure functions, no database.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hymotep.chains import ChainDefinition, Period, source_collection
from hymotep.errors import HymotepError

AcquisitionSource = Literal["inventory", "revisit model"]
EARTH_RADIUS_KM = 6378.0
DAYS_A_YEAR = 365.0
MISSIONS = {"sentinel-2-l1c": "sentinel-2", "sentinel-2-l2a-esa": "sentinel-2", "sentinel-1-grd": "sentinel-1"}
PRODUCTS_PER_PERIOD: dict[Period, float] = {"month": 12.0, "year": 1.0, "hydrological-year": 1.0}
TOLERANCE = 1e-9  # budgets are compared in floating point


class EstimateError(HymotepError):
    """A capacity estimate cannot be made."""


@dataclass(frozen=True)
class Revisit:
    """A mission's revisit: ``passes`` a year over a point under one relative orbit, more where swaths overlap.

    Neighbouring relative orbits are ``2πR / orbits`` apart at the equator, and the spacing shrinks with
    cos(latitude) while the swath does not: a point is seen by about ``swath / spacing / cos(latitude)`` of them
    (at least one). Averaged over a tile, this gives the expected number of acquisitions; one a day at most.
    """

    passes: float
    swath_km: float
    orbits: int

    def acquisitions(self, latitude: float) -> float:
        spacing = 2 * math.pi * EARTH_RADIUS_KM / self.orbits
        overlap = max(1.0, self.swath_km / spacing / math.cos(math.radians(latitude)))
        return min(DAYS_A_YEAR, self.passes * overlap)


REVISITS = {
    # Sentinel-2A/B: 5-day revisit of one relative orbit (73 a year), 290 km swath, 143 relative orbits.
    # About 75 acquisitions a year at the equator, 107 at 45°, 151 at 60°.
    "sentinel-2": Revisit(passes=DAYS_A_YEAR / 5, swath_km=290.0, orbits=143),
    # Sentinel-1 IW: 12-day repeat per satellite, two in operation (6 days), seen ascending and descending:
    # 2 x 365 / 6 passes a year; 250 km swath, 175 relative orbits. About 133 at the equator, 188 at 45°.
    "sentinel-1": Revisit(passes=2 * DAYS_A_YEAR / 6, swath_km=250.0, orbits=175),
}


def expected_acquisitions(mission: str, latitude: float) -> float:
    """Acquisitions a year of a tile centred at ``latitude`` by ``mission`` (sentinel-2 or sentinel-1)."""
    if mission not in REVISITS:
        raise EstimateError(f"no revisit model for mission {mission} (known: {', '.join(sorted(REVISITS))})")
    if not -90 <= latitude <= 90:
        raise EstimateError(f"latitude {latitude} is not between -90 and 90")
    return REVISITS[mission].acquisitions(latitude)


class TileDemand(BaseModel):
    model_config = ConfigDict(frozen=True)

    tile: str
    latitude: float  # of the tile's centre


class RequestDemand(BaseModel):
    """What a request asks for, as far as capacity goes."""

    model_config = ConfigDict(frozen=True)

    name: str
    priority: int
    chains: tuple[str, ...]
    tiles: tuple[TileDemand, ...]
    start: date
    end: date | None = None


class ChainFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain: str
    source: str  # the unproduced collection whose acquisitions drive the chain
    tiles: int
    acquisitions_per_year: float
    products_per_year: float
    cpu_hours_per_year: float
    storage_tb_per_year: float
    sources: dict[AcquisitionSource, int]  # tiles whose acquisitions came from each


class Figures(BaseModel):
    """A year of production of a set of (chain, tile) pairs; acquisitions count each (source, tile) once."""

    model_config = ConfigDict(frozen=True)

    tiles: int
    acquisitions_per_year: float
    chains: tuple[ChainFigures, ...]
    cpu_hours_per_year: float
    storage_tb_per_year: float
    sources: dict[AcquisitionSource, int]


class RequestEstimate(Figures):
    name: str
    priority: int
    start: date
    end: date | None


class EstimateReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    requests: tuple[RequestEstimate, ...]
    total: Figures  # shared (chain, tile) pairs counted once


class PlannedRequest(BaseModel):
    """A request with its marginal yearly cost: what it adds to the requests accepted before it."""

    model_config = ConfigDict(frozen=True)

    name: str
    priority: int
    cpu_hours_per_year: float
    storage_tb_per_year: float
    reason: str | None = None  # why it was left out


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_hours_per_year: float
    storage_tb_per_year: float


class CapacityPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    accepted: tuple[PlannedRequest, ...]
    left_out: tuple[PlannedRequest, ...]
    used: Budget
    left: Budget


@dataclass(frozen=True)
class _Pair:
    """One chain on one tile for a year."""

    chain: str
    source: str
    tile: str
    acquisitions: float
    origin: AcquisitionSource
    products: float
    cpu_hours: float
    storage_tb: float


def estimate(
    requests: list[RequestDemand], chains: dict[str, ChainDefinition], observed: Mapping[tuple[str, str], float]
) -> EstimateReport:
    """Yearly figures per request and for all requests together (each (chain, tile) pair counted once)."""
    per_request = [_pairs(request, chains, observed) for request in requests]
    estimates = tuple(
        RequestEstimate(
            name=request.name,
            priority=request.priority,
            start=request.start,
            end=request.end,
            **dict(_figures(pairs.values())),
        )
        for request, pairs in zip(requests, per_request, strict=True)
    )
    union = {key: pair for pairs in per_request for key, pair in pairs.items()}
    return EstimateReport(requests=estimates, total=_figures(union.values()))


def plan_capacity(
    requests: list[RequestDemand],
    chains: dict[str, ChainDefinition],
    observed: Mapping[tuple[str, str], float],
    cpu_hours: float,
    storage_tb: float,
) -> CapacityPlan:
    """Accept requests by priority (1 first, then by name) while they fit the yearly budgets.

    A request costs only the (chain, tile) pairs not already accepted; one that does not fit is left out and
    the next, perhaps smaller, is tried.
    """
    accepted: list[PlannedRequest] = []
    left_out: list[PlannedRequest] = []
    taken: set[tuple[str, str]] = set()
    left_cpu, left_tb = cpu_hours, storage_tb
    for request in sorted(requests, key=lambda r: (r.priority, r.name)):
        pairs = _pairs(request, chains, observed)
        new = [pair for key, pair in pairs.items() if key not in taken]
        cost_cpu, cost_tb = sum(p.cpu_hours for p in new), sum(p.storage_tb for p in new)
        problems = []
        if cost_cpu > left_cpu + TOLERANCE:
            problems.append(f"needs {cost_cpu:,.0f} CPU-hours a year, {left_cpu:,.0f} left")
        if cost_tb > left_tb + TOLERANCE:
            problems.append(f"needs {cost_tb:,.1f} TB a year, {left_tb:,.1f} left")
        planned = PlannedRequest(
            name=request.name,
            priority=request.priority,
            cpu_hours_per_year=cost_cpu,
            storage_tb_per_year=cost_tb,
            reason="; ".join(problems) or None,
        )
        (left_out if problems else accepted).append(planned)
        if not problems:
            taken.update(pairs)
            left_cpu, left_tb = left_cpu - cost_cpu, left_tb - cost_tb
    return CapacityPlan(
        accepted=tuple(accepted),
        left_out=tuple(left_out),
        used=Budget(cpu_hours_per_year=cpu_hours - left_cpu, storage_tb_per_year=storage_tb - left_tb),
        left=Budget(cpu_hours_per_year=left_cpu, storage_tb_per_year=left_tb),
    )


def _pairs(
    request: RequestDemand, chains: dict[str, ChainDefinition], observed: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], _Pair]:
    pairs = {}
    for chain_id in request.chains:
        if chain_id not in chains:
            raise EstimateError(f"request {request.name}: {chain_id} is not a produced collection")
        chain = chains[chain_id]
        source = source_collection(chains, chain_id)
        for tile in request.tiles:
            acquisitions, origin = _acquisitions(source, tile, observed)
            products = acquisitions if chain.period is None else PRODUCTS_PER_PERIOD[chain.period]
            pairs[chain_id, tile.tile] = _Pair(
                chain=chain_id,
                source=source,
                tile=tile.tile,
                acquisitions=acquisitions,
                origin=origin,
                products=products,
                cpu_hours=products * chain.resources.cpu_hours,
                storage_tb=products * chain.resources.output_mb / 1e6,
            )
    return pairs


def _acquisitions(
    source: str, tile: TileDemand, observed: Mapping[tuple[str, str], float]
) -> tuple[float, AcquisitionSource]:
    if (source, tile.tile) in observed:
        return observed[source, tile.tile], "inventory"
    if source not in MISSIONS:
        raise EstimateError(f"tile {tile.tile}: no acquisitions of {source} observed and no revisit model for it")
    return expected_acquisitions(MISSIONS[source], tile.latitude), "revisit model"


def _figures(chosen: Iterable[_Pair]) -> Figures:
    pairs = list(chosen)
    by_chain: dict[str, list[_Pair]] = {}
    for pair in pairs:
        by_chain.setdefault(pair.chain, []).append(pair)
    acquisitions = {(p.source, p.tile): p for p in pairs}.values()
    return Figures(
        tiles=len({p.tile for p in pairs}),
        acquisitions_per_year=sum(p.acquisitions for p in acquisitions),
        chains=tuple(
            ChainFigures(
                chain=chain,
                source=members[0].source,
                tiles=len(members),
                acquisitions_per_year=sum(p.acquisitions for p in members),
                products_per_year=sum(p.products for p in members),
                cpu_hours_per_year=sum(p.cpu_hours for p in members),
                storage_tb_per_year=sum(p.storage_tb for p in members),
                sources=dict(Counter(p.origin for p in members)),
            )
            for chain, members in sorted(by_chain.items())
        ),
        cpu_hours_per_year=sum(p.cpu_hours for p in pairs),
        storage_tb_per_year=sum(p.storage_tb for p in pairs),
        sources=dict(Counter(p.origin for p in acquisitions)),
    )
