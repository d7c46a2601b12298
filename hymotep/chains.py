"""The processing chains behind the produced collections, read from ``collections/<id>/chain.yaml``.

Each file is validated against ``hymotep/schemas/chain.schema.json``, then checked for what the schema cannot say:
exactly one primary input, a primary input that matches the unit of work, input collections that exist, and
primary inputs that lead down to a collection the centre does not produce. Any fault raises one ``ChainError``
line naming the file.
"""

from __future__ import annotations

import re
from datetime import date
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
AdapterName = Literal["generic", "maja", "lis", "s1tiling"]
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
}
# The settings each adapter reads from run.settings (paths are absolute).
ADAPTER_SETTINGS: dict[str, frozenset[str]] = {
    "generic": frozenset(),
    "maja": frozenset({"gipp"}),
    "lis": frozenset({"config_file", "tcd", "water_mask"}),
    "s1tiling": frozenset({"calibration", "output_spatial_resolution", "polarisation"}),
}
PLACEHOLDER = re.compile(r"{([^{}]*)}")
PRIMARY_MATCH: dict[UnitKind, Match] = {"per-acquisition": "same-acquisition", "per-period": "period"}


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
        known = JOB_PLACEHOLDERS | ADAPTER_PLACEHOLDERS[self.adapter]
        for text in (*self.command, self.outputs.expect or ""):
            unknown = sorted(set(PLACEHOLDER.findall(text)) - known)
            if unknown:
                raise ValueError(
                    f"unknown placeholder {{{unknown[0]}}} in run (the {self.adapter} adapter knows: "
                    f"{', '.join(sorted(known))})"
                )
        return self


class ChainDefinition(BaseModel):
    """How the centre produces the collection ``collection``."""

    model_config = ConfigDict(frozen=True)

    collection: str
    name: str
    version: str
    unit: UnitKind
    period: Period | None = None
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
        return self

    @property
    def primary_input(self) -> ChainInput:
        return next(i for i in self.inputs if i.role == "primary")

    def auxiliary(self, match: Match) -> list[str]:
        """The collections of the required auxiliary inputs matched by ``match`` (same-day, static)."""
        return [i.collection for i in self.inputs if i.role == "auxiliary" and i.match == match and not i.optional]


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
        "min_valid_inputs": document["unit"].get("min_valid_inputs", 1),
        **sections,
    }
