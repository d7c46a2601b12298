"""The processing chains behind the produced collections, read from ``collections/<id>/chain.yaml``.

Each file is validated against ``hymotep/schemas/chain.schema.json``, then checked for what the schema cannot say:
exactly one primary input, a primary input that matches the unit of work, input collections that exist, and
primary inputs that lead down to a collection the centre does not produce. Any fault raises one ``ChainError``
line naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from hygor.validation import document_errors
from hymotep.errors import HymotepError

CHAIN_FILE = "chain.yaml"
CHAIN_SCHEMA = "chain.schema.json"
UnitKind = Literal["per-acquisition", "per-period"]
Period = Literal["month", "year", "hydrological-year"]
InputRole = Literal["primary", "auxiliary", "previous"]
Match = Literal["same-acquisition", "same-day", "static", "period"]
AdapterName = Literal["generic", "maja", "lis", "s1tiling", "wasp"]
# The placeholders of a job's command: those every job has, and those its adapter adds (hymotep.adapters).
JOB_PLACEHOLDERS = frozenset(
    "work_dir input_dir output_dir tmp_dir tile slot mode version job_id acquired day period_start period_end"
    " primary inputs_file job_file".split()
)
ADAPTER_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "generic": frozenset(),
    "maja": frozenset({"maja_mode", "userconf"}),
    "lis": frozenset({"launch_file"}),
    "s1tiling": frozenset({"config_file"}),
    "wasp": frozenset({"input_metadata", "synthesis_date", "synthalf"}),
}
# The settings each adapter reads from run.settings, those it cannot do without, and those that are paths
# (absolute, or under the centre's HESP_HOME when they start with "{home}/").
ADAPTER_SETTINGS: dict[str, frozenset[str]] = {
    "generic": frozenset(),
    "maja": frozenset({"gipp", "userconf"}),
    "lis": frozenset({"config_file", "tcd", "water_mask", "relief_shadow_mask"}),
    "s1tiling": frozenset({"calibration", "output_spatial_resolution", "polarisation", "dem_dir", "dem_database",
                           "dem_format"}),
    "wasp": frozenset(),
}  # fmt: skip
REQUIRED_SETTINGS: dict[str, frozenset[str]] = {"maja": frozenset({"userconf"}), "s1tiling": frozenset({"dem_dir"})}
PATH_SETTINGS = frozenset({"gipp", "userconf", "config_file", "tcd", "water_mask", "relief_shadow_mask", "dem_dir",
                           "dem_database"})  # fmt: skip
HOME = "{home}"
# S1Tiling's [DataSource] polarisation values (s1tiling/libs/configuration.py): anything else stops S1Processor.
S1TILING_POLARISATIONS = ("VV-VH", "VV", "VH", "HH-HV", "HH", "HV")
PLACEHOLDER = re.compile(r"{([^{}]*)}")
LIST_PLACEHOLDERS = frozenset({"input_metadata"})  # as many arguments as values
PRIMARY_MATCH: dict[UnitKind, Match] = {"per-acquisition": "same-acquisition", "per-period": "period"}
# How auxiliary inputs can match each kind of unit: what gaps check and job inputs find (hymotep.work_units,
# hymotep.job_inputs); any other declaration is refused rather than ignored.
AUXILIARY_MATCHES: dict[UnitKind, tuple[Match, ...]] = {"per-acquisition": ("same-day", "static"),
                                                        "per-period": ("static",)}  # fmt: skip


class ChainError(HymotepError):
    """A chain definition is invalid."""


class ChainInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    collection: str
    role: InputRole
    match: Match | None = None  # None for a previous product, found through the dependencies
    optional: bool = False


class EarlierLimit(BaseModel):
    """Another age limit for acquisitions before a date (MAJA: 30 days before 2017-07-01)."""

    model_config = ConfigDict(frozen=True)

    until: date
    days: int


class Dependencies(BaseModel):
    """How a multi-temporal chain (MAJA) finds its previous product, else initialises."""

    model_config = ConfigDict(frozen=True)

    previous_valid_within_days: int
    init_backward_count: int
    earlier_limit: EarlierLimit | None = None


class Synthesis(BaseModel):
    """A synthesis dated on a day of its period from the inputs within ``half_days`` of that date (WASP's
    ``--date`` and ``--synthalf``: THEIA's monthly L3A is dated the 15th, from the L2A of 23 days either side)."""

    model_config = ConfigDict(frozen=True)

    day: int
    half_days: int

    def centre(self, period_start: date) -> date:
        return period_start + timedelta(days=self.day - 1)

    def offsets(self) -> tuple[int, int]:
        """The window in days from the start of its period: its first day, and the day after its last."""
        return self.day - 1 - self.half_days, self.day + self.half_days


class Resources(BaseModel):
    """The cost of one product, the base of capacity estimates."""

    model_config = ConfigDict(frozen=True)

    cpu_hours: float
    memory_gb: float
    wall_minutes: float
    output_mb: float


class Container(BaseModel):
    model_config = ConfigDict(frozen=True)

    engine: Literal["apptainer", "docker", "podman"]
    image: str


class Outputs(BaseModel):
    model_config = ConfigDict(frozen=True)

    reader: str
    expect: str | None = None


class RunSpec(BaseModel):
    """How one job runs: its command (an argument list with placeholders), adapter, environment, outputs."""

    model_config = ConfigDict(frozen=True)

    command: tuple[str, ...]
    outputs: Outputs
    adapter: AdapterName = "generic"
    environment: dict[str, str] = {}
    settings: dict[str, str] = {}
    container: Container | None = None
    max_attempts: int = 3
    timeout_minutes: float | None = None

    @model_validator(mode="after")
    def _known_names(self) -> RunSpec:
        unknown_settings = sorted(set(self.settings) - ADAPTER_SETTINGS[self.adapter])
        if unknown_settings:
            known_settings = ", ".join(sorted(ADAPTER_SETTINGS[self.adapter])) or "none"
            raise ValueError(
                f"unknown setting {unknown_settings[0]} of the {self.adapter} adapter (known: {known_settings})"
            )
        missing = sorted(REQUIRED_SETTINGS.get(self.adapter, frozenset()) - set(self.settings))
        if missing:
            raise ValueError(f"the {self.adapter} adapter needs the setting {missing[0]} (in run.settings)")
        for name in sorted(PATH_SETTINGS & set(self.settings)):
            value = self.settings[name]
            if not (value.startswith(HOME + "/") or Path(value).is_absolute()):
                raise ValueError(f"setting {name} of the {self.adapter} adapter must be an absolute path or start "
                                 f"with {HOME}/, not {value!r}")  # fmt: skip
        polarisation = self.settings.get("polarisation")
        if self.adapter == "s1tiling" and polarisation is not None and polarisation not in S1TILING_POLARISATIONS:
            allowed = ", ".join(S1TILING_POLARISATIONS)
            raise ValueError(f"polarisation {polarisation!r} is not one of S1Tiling's: {allowed}")
        for part in (*self.command, self.outputs.expect or ""):
            listed = sorted(set(PLACEHOLDER.findall(part)) & LIST_PLACEHOLDERS)
            if listed and part != f"{{{listed[0]}}}":
                raise ValueError(
                    f"{{{listed[0]}}} stands for several arguments: it must be a whole argument, not {part!r}"
                )
        known = JOB_PLACEHOLDERS | ADAPTER_PLACEHOLDERS[self.adapter]
        for text in (*self.command, self.outputs.expect or ""):
            unknown = sorted(set(PLACEHOLDER.findall(text)) - known)
            if unknown:
                raise ValueError(
                    f"unknown placeholder {{{unknown[0]}}} in run (the {self.adapter} adapter knows: "
                    f"{', '.join(sorted(known))})"
                )
        return self

    def setting_path(self, name: str, home: Path) -> Path | None:
        """The path setting ``name``, ``{home}`` standing for ``home``; None when it is not set."""
        value = self.settings.get(name)
        return None if value is None else Path(value.replace(HOME, str(home.absolute()), 1))


class ChainDefinition(BaseModel):
    """How the centre produces the collection ``collection``."""

    model_config = ConfigDict(frozen=True)

    collection: str
    name: str
    version: str
    unit: UnitKind
    period: Period | None = None
    synthesis: Synthesis | None = None
    min_valid_inputs: int = 1
    inputs: tuple[ChainInput, ...]
    dependencies: Dependencies | None = None
    resources: Resources
    run: RunSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChainDefinition:
        if (self.unit == "per-period") != (self.period is not None):
            raise ValueError("a per-period chain needs a period, a per-acquisition chain has none")
        primaries = [i for i in self.inputs if i.role == "primary"]
        if len(primaries) != 1:
            raise ValueError(f"exactly one input must be primary, found {len(primaries)}")
        expected = PRIMARY_MATCH[self.unit]
        if primaries[0].match != expected:
            raise ValueError(f"the primary input of a {self.unit} chain must match by {expected}")
        if self.synthesis is not None and self.period != "month":
            raise ValueError("a synthesis date and window (unit.synthesis) is for monthly periods only")
        for declared in self.inputs:
            self._check_input(declared)
        return self

    def _check_input(self, declared: ChainInput) -> None:
        """An auxiliary or previous input that gaps and job inputs would not use is refused, not ignored."""
        allowed = AUXILIARY_MATCHES[self.unit]
        if declared.role == "auxiliary" and declared.match not in allowed:
            raise ValueError(
                f"auxiliary input {declared.collection} matches by {declared.match}: a {self.unit} chain's auxiliary "
                f"inputs match by {' or '.join(allowed)}"
            )
        if declared.role == "previous":
            if self.unit != "per-acquisition" or declared.collection != self.collection:
                raise ValueError(f"the previous input {declared.collection} must be this per-acquisition chain's "
                                 f"own collection ({self.collection})")  # fmt: skip
            if not declared.optional:
                raise ValueError(f"the previous input {declared.collection} must be optional: without one, the "
                                 "chain initialises (dependencies)")  # fmt: skip

    @property
    def window_params(self) -> dict[str, int | None]:
        """The parameters of the queries that select a per-period unit's inputs (gaps.sql, run.sql): the
        synthesis window in days from the period's start, or None for the whole period."""
        first, after = self.synthesis.offsets() if self.synthesis else (None, None)
        return {"window_from": first, "window_to": after}

    @property
    def primary_input(self) -> ChainInput:
        return next(i for i in self.inputs if i.role == "primary")

    def auxiliary(self, match: Match, *, optional: bool = False) -> list[str]:
        """The collections of the auxiliary inputs matched by ``match`` (same-day, static): the required ones (what
        gaps wait for), and the optional ones too with ``optional`` (what a job is given when they are there)."""
        return [i.collection for i in self.inputs
                if i.role == "auxiliary" and i.match == match and (optional or not i.optional)]  # fmt: skip


def load_chains(collections_dir: Path) -> dict[str, ChainDefinition]:
    """Every ``collections/*/chain.yaml``, by collection id."""
    chains = {path.parent.name: _load_chain(path) for path in sorted(collections_dir.glob(f"*/{CHAIN_FILE}"))}
    for collection, chain in chains.items():
        path = collections_dir / collection / CHAIN_FILE
        missing = [i.collection for i in chain.inputs if not (collections_dir / i.collection).is_dir()]
        if missing:
            raise ChainError(f"{path}: unknown input collection {missing[0]} (no folder in {collections_dir})")
        try:
            source_collection(chains, collection)
        except ChainError as exc:
            raise ChainError(f"{path}: {exc}") from None
    return chains


def source_collection(chains: dict[str, ChainDefinition], collection: str) -> str:
    """The collection the centre does not produce at the end of the primary inputs of ``collection``.

    lis-snow -> maja-l2a -> sentinel-2-l1c: its acquisitions drive how many products every chain on the way makes.
    """
    return primary_path(chains, collection)[-1]


def primary_path(chains: dict[str, ChainDefinition], collection: str) -> list[str]:
    """``collection``, its primary input, that one's, ... down to the source: [lis-snow, maja-l2a, sentinel-2-l1c]."""
    seen = [collection]
    while collection in chains:
        collection = chains[collection].primary_input.collection
        if collection in seen:
            raise ChainError(f"primary inputs form a cycle: {' -> '.join([*seen, collection])}")
        seen.append(collection)
    return seen


def downstream(chains: dict[str, ChainDefinition], collection: str) -> list[str]:
    """``collection`` and every produced collection whose primary inputs lead to it (maja-l2a: lis-snow, ...)."""
    return sorted(c for c in chains if collection in primary_path(chains, c)[:-1])


def needed_chains(
    chains: dict[str, ChainDefinition], requested: Sequence[str]
) -> dict[str, tuple[tuple[str, ...], bool]]:
    """What asking for the chains ``requested`` makes the centre produce: each of them, and the produced
    collections they need (the primary inputs down to the source, lis-snow: maja-l2a; the required auxiliary
    inputs the centre produces, a DEM chain; and what those need). Each with the requested chains that need it
    (none when it is requested itself), and whether it is needed once per tile only (reached through a static
    input: a tile's DEM is made once, not for every acquisition)."""
    needed: dict[str, tuple[tuple[str, ...], bool]] = {}
    for chain in requested:
        for collection, once in _reach(chains, chain).items():
            by, one_off = needed.get(collection, ((), True))
            needed_by = by if collection in requested else tuple(sorted({*by, chain}))
            needed[collection] = (needed_by, one_off and once)
    return needed


def _reach(chains: dict[str, ChainDefinition], start: str) -> dict[str, bool]:
    """The produced collections ``start`` needs (itself included), each with whether only through static inputs."""
    found: dict[str, bool] = {}
    pending = [(start, False)]
    while pending:
        collection, once = pending.pop()
        if collection not in chains or (collection in found and (once or not found[collection])):
            continue
        found[collection] = once
        inputs = chains[collection].inputs
        pending.append((chains[collection].primary_input.collection, once))
        pending.extend((i.collection, once or i.match == "static") for i in inputs
                       if i.role == "auxiliary" and not i.optional)  # fmt: skip
    return found


def _load_chain(path: Path) -> ChainDefinition:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ChainError(f"{path}: malformed YAML: {getattr(exc, 'problem', None) or exc}{where}") from None
    problems = document_errors(document, "hymotep", CHAIN_SCHEMA)
    if problems:
        raise ChainError(f"{path}: {problems[0]}")
    try:
        return ChainDefinition.model_validate(_flatten(path.parent.name, document))
    except ValidationError as exc:
        raise ChainError(f"{path}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _flatten(collection: str, document: dict[str, Any]) -> dict[str, Any]:
    """The model's fields from the file's sections (``chain``, ``unit`` and the others as they are)."""
    sections = {key: value for key, value in document.items() if key not in ("chain", "unit")}
    return {
        "collection": collection,
        **document["chain"],
        "unit": document["unit"]["kind"],
        "period": document["unit"].get("period"),
        "synthesis": document["unit"].get("synthesis"),
        "min_valid_inputs": document["unit"].get("min_valid_inputs", 1),
        **sections,
    }
