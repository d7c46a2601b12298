"""Capacity estimates of production requests: products, CPU-hours and storage a year, and the backlog, from the
chains' resources.

How many acquisitions a tile gets comes from the inventory where its inputs are harvested (``observed``), else
from a revisit model of the mission. A product costs its chain's ``resources``. A request costs the chains it
names and those they need (``hymotep.chains.needed_chains``: lis-snow needs maja-l2a); a (chain, tile) pair asked
for twice is produced once, so a request, totals and capacity plans count it once. Besides the yearly rate, a
request has a backlog: what its period holds before ``as_of`` (today), a one-off cost; so does a chain needed
once per tile (a DEM). Pure functions, no database: ``as_of`` is given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hymotep.chains import ChainDefinition, Period, needed_chains, source_collection
from hymotep.errors import HymotepError

AcquisitionSource = Literal["inventory", "revisit model"]
EARTH_RADIUS_KM = 6378.0
DAYS_A_YEAR = 365.0
MISSIONS = {"sentinel-2-l1c": "sentinel-2", "sentinel-2-l2a-esa": "sentinel-2", "sentinel-1-grd": "sentinel-1"}
PRODUCTS_PER_PERIOD: dict[Period, float] = {"month": 12.0, "year": 1.0, "hydrological-year": 1.0}
TOLERANCE = 1e-9  # budgets are compared in floating point
BUDGET_YEAR = timedelta(days=365)  # a capacity plan's budget is for the year from its `as_of` date
Interval = tuple[date, date]  # [first day, day after the last)


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

    @property
    def interval(self) -> Interval:
        return self.start, date.max if self.end is None else self.end + timedelta(days=1)


class ChainFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain: str
    needed_by: tuple[str, ...] = ()  # the requested chains it is produced for; none when it is requested itself
    one_off: bool = False  # needed once per tile (a static input): all its cost is in the backlog
    source: str  # the unproduced collection whose acquisitions drive the chain
    tiles: int
    acquisitions_per_year: float
    products_per_year: float
    cpu_hours_per_year: float
    storage_tb_per_year: float
    backlog_products: float
    backlog_cpu_hours: float
    backlog_storage_tb: float
    sources: dict[AcquisitionSource, int]  # tiles whose acquisitions came from each


class Figures(BaseModel):
    """A year of production of a set of (chain, tile) pairs, and their backlog; acquisitions count each (source,
    tile) once."""

    model_config = ConfigDict(frozen=True)

    tiles: int
    acquisitions_per_year: float
    chains: tuple[ChainFigures, ...]
    cpu_hours_per_year: float
    storage_tb_per_year: float
    backlog_cpu_hours: float
    backlog_storage_tb: float
    sources: dict[AcquisitionSource, int]


class RequestEstimate(Figures):
    name: str
    priority: int
    start: date
    end: date | None
    backlog_days: int  # of its period before the estimate's date


class EstimateReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date  # the backlog is what the periods hold before this day
    requests: tuple[RequestEstimate, ...]
    total: Figures  # shared (chain, tile) pairs counted once


class PlannedRequest(BaseModel):
    """A request with its marginal cost in the budget year: what it adds to the requests accepted before it, its
    production in the year (its yearly rate, prorated to its period) and its backlog."""

    model_config = ConfigDict(frozen=True)

    name: str
    priority: int
    cpu_hours_per_year: float
    storage_tb_per_year: float
    backlog_cpu_hours: float = 0.0
    backlog_storage_tb: float = 0.0
    reason: str | None = None  # why it was left out

    @property
    def cpu_hours(self) -> float:
        return self.cpu_hours_per_year + self.backlog_cpu_hours

    @property
    def storage_tb(self) -> float:
        return self.storage_tb_per_year + self.backlog_storage_tb


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_hours_per_year: float
    storage_tb_per_year: float


class CapacityPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date  # the budget year starts that day
    accepted: tuple[PlannedRequest, ...]
    left_out: tuple[PlannedRequest, ...]
    used: Budget
    left: Budget
    applied: bool = False  # the decisions were recorded (``--apply``)
    changed: tuple[str, ...] = ()  # the requests whose decision was recorded


@dataclass(frozen=True)
class _Pair:
    """One chain on one tile: a year of it, or once for a one-off."""

    chain: str
    source: str
    tile: str
    acquisitions: float
    origin: AcquisitionSource | None  # None for a one-off
    products: float
    cpu_hours: float
    storage_tb: float
    needed_by: tuple[str, ...]
    one_off: bool

    def shares(self, intervals: list[Interval], as_of: date) -> tuple[float, float]:
        """How many times its figures the requested ``intervals`` cost: in the budget year from ``as_of``, and
        in the backlog before it (a one-off's, whole, once asked)."""
        if self.one_off:
            return 0.0, 1.0 if intervals else 0.0
        year = _days(intervals, as_of, as_of + BUDGET_YEAR) / DAYS_A_YEAR
        return year, _days(intervals, date.min, as_of) / DAYS_A_YEAR


_Wanted = dict[tuple[str, str], tuple[_Pair, list[Interval]]]  # (chain, tile): the pair and the dates asked


def estimate(
    requests: list[RequestDemand],
    chains: dict[str, ChainDefinition],
    observed: Mapping[tuple[str, str], float],
    as_of: date,
) -> EstimateReport:
    """Yearly figures and backlog before ``as_of`` per request and for all requests together (each (chain, tile)
    pair counted once, needed by several chains or requests)."""
    per_request = [_pairs(request, chains, observed) for request in requests]
    estimates = tuple(
        RequestEstimate(
            name=request.name,
            priority=request.priority,
            start=request.start,
            end=request.end,
            backlog_days=_days([request.interval], date.min, as_of),
            **dict(_figures({key: (pair, [request.interval]) for key, pair in pairs.items()}, as_of)),
        )
        for request, pairs in zip(requests, per_request, strict=True)
    )
    union: _Wanted = {}
    for request, pairs in zip(requests, per_request, strict=True):
        for key, pair in pairs.items():
            known, intervals = union.get(key, (pair, []))
            needed_by = _needed_by([known.needed_by, pair.needed_by])
            merged = replace(known, needed_by=needed_by, one_off=known.one_off and pair.one_off)
            union[key] = (merged, [*intervals, request.interval])
    return EstimateReport(as_of=as_of, requests=estimates, total=_figures(union, as_of))


def plan_capacity(
    requests: list[RequestDemand],
    chains: dict[str, ChainDefinition],
    observed: Mapping[tuple[str, str], float],
    cpu_hours: float,
    storage_tb: float,
    as_of: date,
) -> CapacityPlan:
    """Accept requests by priority (1 first, then by name) while they fit the budget of the year from ``as_of``.

    A request costs its production in that year (its yearly rate over the part of its period in the year) plus
    its backlog (its period before ``as_of``, caught up within the year), counting only the (chain, tile) pairs
    and dates not already accepted; one that does not fit is left out and the next, perhaps smaller, is tried.
    """
    accepted: list[PlannedRequest] = []
    left_out: list[PlannedRequest] = []
    taken: dict[tuple[str, str], list[Interval]] = {}
    left_cpu, left_tb = cpu_hours, storage_tb
    for request in sorted(requests, key=lambda r: (r.priority, r.name)):
        pairs = _pairs(request, chains, observed)
        cost = [0.0, 0.0, 0.0, 0.0]  # CPU-hours and TB in the year, CPU-hours and TB of backlog
        for key, pair in pairs.items():
            before = taken.get(key, [])
            year_after, backlog_after = pair.shares([*before, request.interval], as_of)
            year_before, backlog_before = pair.shares(before, as_of)
            year, backlog = year_after - year_before, backlog_after - backlog_before
            cost = [cost[0] + year * pair.cpu_hours, cost[1] + year * pair.storage_tb,
                    cost[2] + backlog * pair.cpu_hours, cost[3] + backlog * pair.storage_tb]  # fmt: skip
        planned = PlannedRequest(
            name=request.name,
            priority=request.priority,
            cpu_hours_per_year=cost[0],
            storage_tb_per_year=cost[1],
            backlog_cpu_hours=cost[2],
            backlog_storage_tb=cost[3],
        )
        problems = [
            *_shortfall(planned.cpu_hours, planned.backlog_cpu_hours, left_cpu, "CPU-hours", ",.0f"),
            *_shortfall(planned.storage_tb, planned.backlog_storage_tb, left_tb, "TB", ",.1f"),
        ]
        if problems:
            left_out.append(planned.model_copy(update={"reason": "; ".join(problems)}))
            continue
        accepted.append(planned)
        for key in pairs:
            taken[key] = [*taken.get(key, []), request.interval]
        left_cpu, left_tb = left_cpu - planned.cpu_hours, left_tb - planned.storage_tb
    return CapacityPlan(
        as_of=as_of,
        accepted=tuple(accepted),
        left_out=tuple(left_out),
        used=Budget(cpu_hours_per_year=cpu_hours - left_cpu, storage_tb_per_year=storage_tb - left_tb),
        left=Budget(cpu_hours_per_year=left_cpu, storage_tb_per_year=left_tb),
    )


def _shortfall(cost: float, backlog: float, left: float, unit: str, style: str) -> list[str]:
    if cost <= left + TOLERANCE:
        return []
    if backlog <= TOLERANCE:
        return [f"needs {cost:{style}} {unit} a year, {left:{style}} left"]
    return [f"needs {cost:{style}} {unit} in the budget year ({backlog:{style}} of backlog), {left:{style}} left"]


def _needed_by(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Who needs a chain asked for several times: nobody when one asks for it itself, else all of them."""
    every = list(lists)
    return () if not all(every) else tuple(sorted({chain for chains in every for chain in chains}))


def _days(intervals: Iterable[Interval], first: date, after: date) -> int:
    """Days of the union of ``intervals`` within [``first``, ``after``)."""
    total, reach = 0, first
    for start, end in sorted((max(a, first), min(b, after)) for a, b in intervals):
        start = max(start, reach)
        if end > start:
            total, reach = total + (end - start).days, end
    return total


def _pairs(
    request: RequestDemand, chains: dict[str, ChainDefinition], observed: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], _Pair]:
    """The (chain, tile) pairs a request makes the centre produce: its chains and those they need."""
    for chain_id in request.chains:
        if chain_id not in chains:
            raise EstimateError(f"request {request.name}: {chain_id} is not a produced collection")
    pairs = {}
    for chain_id, (needed_by, one_off) in sorted(needed_chains(chains, request.chains).items()):
        chain = chains[chain_id]
        source = source_collection(chains, chain_id)
        for tile in request.tiles:
            acquisitions, origin = (0.0, None) if one_off else _acquisitions(source, tile, observed)
            products = 1.0 if one_off else acquisitions if chain.period is None else PRODUCTS_PER_PERIOD[chain.period]
            pairs[chain_id, tile.tile] = _Pair(
                chain=chain_id,
                source=source,
                tile=tile.tile,
                acquisitions=acquisitions,
                origin=origin,
                products=products,
                cpu_hours=products * chain.resources.cpu_hours,
                storage_tb=products * chain.resources.output_mb / 1e6,
                needed_by=needed_by,
                one_off=one_off,
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


def _figures(wanted: _Wanted, as_of: date) -> Figures:
    by_chain: dict[str, list[tuple[_Pair, float, float]]] = {}  # per chain: pair, yearly and backlog shares
    for pair, intervals in wanted.values():
        _, backlog = pair.shares(intervals, as_of)
        by_chain.setdefault(pair.chain, []).append((pair, 0.0 if pair.one_off else 1.0, backlog))
    chains = tuple(
        ChainFigures(
            chain=chain,
            needed_by=_needed_by(p.needed_by for p, _, _ in members),
            one_off=all(p.one_off for p, _, _ in members),
            source=members[0][0].source,
            tiles=len(members),
            acquisitions_per_year=sum(p.acquisitions for p, _, _ in members),
            products_per_year=sum(p.products * year for p, year, _ in members),
            cpu_hours_per_year=sum(p.cpu_hours * year for p, year, _ in members),
            storage_tb_per_year=sum(p.storage_tb * year for p, year, _ in members),
            backlog_products=sum(p.products * backlog for p, _, backlog in members),
            backlog_cpu_hours=sum(p.cpu_hours * backlog for p, _, backlog in members),
            backlog_storage_tb=sum(p.storage_tb * backlog for p, _, backlog in members),
            sources=dict(Counter(p.origin for p, _, _ in members if p.origin is not None)),
        )
        for chain, members in sorted(by_chain.items())
    )
    recurring = [pair for pair, _ in wanted.values() if pair.origin is not None]
    acquisitions = {(p.source, p.tile): p for p in recurring}.values()
    return Figures(
        tiles=len({tile for _, tile in wanted}),
        acquisitions_per_year=sum(p.acquisitions for p in acquisitions),
        chains=chains,
        cpu_hours_per_year=sum(c.cpu_hours_per_year for c in chains),
        storage_tb_per_year=sum(c.storage_tb_per_year for c in chains),
        backlog_cpu_hours=sum(c.backlog_cpu_hours for c in chains),
        backlog_storage_tb=sum(c.backlog_storage_tb for c in chains),
        sources=dict(Counter(p.origin for p in acquisitions if p.origin is not None)),
    )
