"""Adapters: how one job's work directory is laid out and its command line built, for each kind of chain.

Every job gets a private work directory::

    <work root>/<collection>/job-<id>-<attempt>/
        input/    links to the input products, named as the products (what MAJA expects of its input folder)
        output/   where the chain writes its products
        tmp/      the chain's scratch space
        job.json  the job and its inputs; inputs.txt: one primary input path a line
        job.log   the chain's standard output and error

The generic adapter stops there; the adapters of the real chains add their configuration files: MAJA's user
configuration folder and mode, LIS's launch.json, S1Tiling's config.cfg. The command of ``chain.yaml`` is then
filled with the placeholders (``{input_dir}``, ``{launch_file}``, ...) and its executable looked up on
HESP_CHAIN_PATH, then PATH, unless it runs in a container.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hymotep.chains import ChainDefinition, RunSpec
from hymotep.errors import HymotepError
from hymotep.job_inputs import InputItem, JobInputs
from hymotep.queue import Job
from hymotep.settings import command_search_path

MAJA_MODES = {"init": "L2INIT", "backward": "L2BACKWARD", "nominal": "L2NOMINAL"}
EARTH_EXPLORER_DATA = (".DBL.DIR", ".DBL")  # MAJA's auxiliary products: a .HDR header beside its data


class AdapterError(HymotepError):
    """The job's command cannot be prepared (a chain's command not found, an input missing)."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def create(cls, work_root: Path, job: Job) -> Workspace:
        """A fresh work directory for this attempt of ``job`` (a leftover of a killed attempt is cleared)."""
        root = work_root / job.collection / f"job-{job.id}-{job.attempts}"
        if root.exists():
            shutil.rmtree(root)
        for folder in ("input", "output", "tmp"):
            (root / folder).mkdir(parents=True)
        return cls(root)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def log_path(self) -> Path:
        return self.root / "job.log"


@dataclass(frozen=True)
class Invocation:
    """A prepared command: argument list, environment additions, and the directories a container must see."""

    argv: list[str]
    env: dict[str, str]
    binds: list[Path]


def prepare(job: Job, chain: ChainDefinition, inputs: JobInputs, workspace: Workspace, chain_path: str) -> Invocation:
    """Lay out ``workspace`` for ``job`` and build its command."""
    run = chain.run
    if run is None:
        raise AdapterError(f"chain {chain.name} of {chain.collection} has no run section in its chain.yaml")
    values = _job_values(job, chain, inputs, workspace)
    values.update(ADAPTERS[run.adapter](job, run, inputs, workspace))
    argv = [part.format_map(values) for part in run.command]
    env = {
        **run.environment,
        "HESP_JOB_ID": str(job.id),
        "HESP_CHAIN_VERSION": job.chain_version,
        "HESP_TILE": job.tile,
        "TMPDIR": str(workspace.tmp_dir),
    }
    settings = [Path(value) for value in run.settings.values() if Path(value).is_absolute() and Path(value).exists()]
    binds = sorted({
        workspace.root,
        *(i.product_path().resolve().parent for i in inputs.all()),
        *(path.resolve() if path.is_dir() else path.resolve().parent for path in settings),
    })  # fmt: skip
    if run.container is None:
        argv[0] = _executable(argv[0], chain_path)
    else:
        argv = container_command(run, binds, env) + argv
    return Invocation(argv, env, binds)


def expected_outputs(run: RunSpec, job: Job) -> str | None:
    return run.outputs.expect.format_map({"tile": job.tile}) if run.outputs.expect else None


def container_command(run: RunSpec, binds: list[Path], env: dict[str, str]) -> list[str]:
    """The prefix that runs a command in the chain's image: ``binds`` mounted at their own paths, ``env`` set
    (a container does not inherit the worker's environment), and docker/podman as the worker's user, so that
    the worker can move and remove what the chain writes."""
    assert run.container is not None
    engine, image = run.container.engine, run.container.image
    variables = [f"{key}={value}" for key, value in sorted(env.items())]
    if engine == "apptainer":
        mounts = [a for b in binds for a in ("--bind", f"{b}:{b}")]
        return [engine, "exec", "--cleanenv", *mounts, *[a for v in variables for a in ("--env", v)], image]
    mounts = [a for b in binds for a in ("-v", f"{b}:{b}")]
    user = ["--user", f"{os.getuid()}:{os.getgid()}"]
    return [engine, "run", "--rm", *user, *mounts, *[a for v in variables for a in ("-e", v)], image]


def _job_values(job: Job, chain: ChainDefinition, inputs: JobInputs, workspace: Workspace) -> dict[str, str]:
    """The placeholders every job has; the inputs are linked, listed and described on the way."""
    for item in inputs.all():
        _link(item.product_path(), workspace.input_dir)
    primaries = [str(i.product_path()) for i in inputs.primary]
    inputs_file = workspace.root / "inputs.txt"
    inputs_file.write_text("".join(f"{p}\n" for p in primaries))
    job_file = workspace.root / "job.json"
    unit = inputs.unit
    description = {
        "job": job.id, "collection": job.collection, "chain": chain.name, "version": job.chain_version,
        "tile": job.tile, "slot": job.slot, "mode": job.mode, "acquired": unit.acquired.isoformat(),
        "period": [str(unit.period_start), str(unit.period_end)] if unit.period_start else None,
        "inputs": [{"role": i.role, "collection": i.collection, "id": i.id, "path": str(i.product_path())}
                   for i in inputs.all()],
    }  # fmt: skip
    job_file.write_text(json.dumps(description, indent=2))
    return {
        "work_dir": str(workspace.root),
        "input_dir": str(workspace.input_dir),
        "output_dir": str(workspace.output_dir),
        "tmp_dir": str(workspace.tmp_dir),
        "tile": job.tile,
        "slot": str(job.slot),
        "mode": job.mode or "",
        "version": job.chain_version,
        "job_id": str(job.id),
        "acquired": unit.acquired.isoformat(),
        "day": unit.acquired.date().isoformat(),
        "period_start": str(unit.period_start or ""),
        "period_end": str(unit.period_end or ""),
        "primary": primaries[0],
        "inputs_file": str(inputs_file),
        "job_file": str(job_file),
    }


def _link(product: Path, folder: Path) -> None:
    """A link named as ``product`` in ``folder``; the .HDR header of an Earth Explorer product comes with it."""
    links = [product]
    if product.name.endswith(EARTH_EXPLORER_DATA):
        header = product.with_name(product.name.split(".DBL")[0] + ".HDR")
        links += [header] if header.exists() else []
    for target in links:
        link = folder / target.name
        if not link.exists():
            link.symlink_to(target.resolve())


def _executable(name: str, chain_path: str) -> str:
    found = shutil.which(name, path=command_search_path(chain_path))
    if found is None:
        raise AdapterError(f"command {name!r} not found on HESP_CHAIN_PATH or PATH")
    return found


def _generic(job: Job, run: RunSpec, inputs: JobInputs, workspace: Workspace) -> dict[str, str]:
    return {}


def _maja(job: Job, run: RunSpec, inputs: JobInputs, workspace: Workspace) -> dict[str, str]:
    """MAJA's input folder holds the L1C (and, BACKWARD, the next ones), the DEM, the CAMS and, NOMINAL, the
    previous L2A, all linked already, and the GIPP parameter files of the ``gipp`` setting. The user
    configuration folder is left empty (MAJA's defaults); the mode is the unit's, as Start_maja chooses it."""
    if job.mode not in MAJA_MODES:
        raise AdapterError(f"job {job.id}: MAJA needs a mode (init, backward or nominal), not {job.mode!r}")
    if job.mode == "nominal" and inputs.previous is None:
        raise AdapterError(f"job {job.id}: NOMINAL mode without a previous valid L2A of {job.tile}")
    gipp = Path(run.settings["gipp"]) if "gipp" in run.settings else None
    if gipp is not None and not gipp.is_dir():
        raise AdapterError(f"the GIPP folder {gipp} of the maja-l2a chain is missing")
    for parameters in sorted(gipp.iterdir()) if gipp else []:
        _link(parameters, workspace.input_dir)
    userconf = workspace.root / "userconf"
    userconf.mkdir(exist_ok=True)
    return {"maja_mode": MAJA_MODES[job.mode], "userconf": str(userconf)}


def _lis(job: Job, run: RunSpec, inputs: JobInputs, workspace: Workspace) -> dict[str, str]:
    """let_it_snow_fsc.py's launch file: the L2A folder, the DEM of the tile, where to write; the configuration,
    tree cover density and water mask of the settings."""
    launch = {
        "input_dir": str(inputs.primary[0].product_path()),
        "output_dir": str(workspace.output_dir),
        "dem": str(_asset_path(inputs, "dem-tiles", "ALT_R2")),
        "tcd": run.settings.get("tcd"),
        "water_mask": run.settings.get("water_mask"),
        "config_file": run.settings.get("config_file"),
        "chain_version": job.chain_version,
        "product_counter": "1",
        "log_level": "INFO",
    }
    path = workspace.root / "launch.json"
    path.write_text(json.dumps(launch, indent=2))
    return {"launch_file": str(path)}


def _s1tiling(job: Job, run: RunSpec, inputs: JobInputs, workspace: Workspace) -> dict[str, str]:
    """S1Processor's config.cfg for one pass over one tile: the GRD slices of the pass, linked into the input
    folder, and its orbit; the DEM folder of the tile when there is one."""
    first = inputs.primary[0].item["properties"]
    day = inputs.unit.acquired.date()
    dem = next((i.product_path() for i in inputs.auxiliary if i.collection == "dem-tiles"), None)
    config = configparser.ConfigParser()
    config["Paths"] = {
        "output": str(workspace.output_dir),
        "tmp": str(workspace.tmp_dir),
        "dem_dir": str(dem or ""),
        "s1_images": str(workspace.input_dir),
    }
    config["DataSource"] = {
        "download": "False",
        "roi_by_tiles": job.tile,
        "polarisation": run.settings.get("polarisation", "VV VH"),
        "orbit_direction": {"ascending": "ASC", "descending": "DES"}.get(first.get("sat:orbit_state", ""), ""),
        "relative_orbit_list": str(first.get("sat:relative_orbit", "")),
        "first_date": day.isoformat(),
        "last_date": day.isoformat(),
    }
    config["Processing"] = {
        "calibration": run.settings.get("calibration", "sigma"),
        "tiles": job.tile,
        "output_spatial_resolution": run.settings.get("output_spatial_resolution", "10."),
    }
    path = workspace.root / "config.cfg"
    with path.open("w") as out:
        config.write(out)
    return {"config_file": str(path)}


def _asset_path(inputs: JobInputs, collection: str, key: str) -> Path:
    item: InputItem | None = next((i for i in inputs.all() if i.collection == collection), None)
    asset = (item.item.get("assets", {}) if item else {}).get(key)
    if asset is None:
        raise AdapterError(f"no {collection} input with a {key} asset for tile {inputs.unit.tile}")
    return Path(str(asset["href"]).removeprefix("file://"))


ADAPTERS: dict[str, Callable[[Job, RunSpec, JobInputs, Workspace], dict[str, str]]] = {
    "generic": _generic,
    "maja": _maja,
    "lis": _lis,
    "s1tiling": _s1tiling,
}
