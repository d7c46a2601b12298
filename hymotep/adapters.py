"""Adapters: how one job's work directory is laid out and its command line built, for each kind of chain.

Every job gets a private work directory::

    <work root>/<collection>/job-<id>-<attempt>/
        input/    links to the input products, named as the products (what MAJA expects of its input folder)
        output/   where the chain writes its products
        tmp/      the chain's scratch space
        job.json  the job and its inputs; inputs.txt: one primary input path a line
        job.log   the chain's standard output and error

The generic adapter stops there; the adapters of the real chains add what their tool reads, as the tool's own
source reads it: MAJA's user configuration folder (checked) and mode, LIS's launch.json, S1Tiling's config.cfg,
WASP's metadata files, synthesis date and half window. The command of ``chain.yaml`` is then filled with the
placeholders (``{input_dir}``, ``{launch_file}``, ...; a list, ``{input_metadata}``, gives as many arguments) and
its executable looked up on HESP_CHAIN_PATH, then PATH, unless it runs in a container.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hymotep.chains import PATH_SETTINGS, ChainDefinition, RunSpec, Synthesis
from hymotep.errors import HymotepError
from hymotep.job_inputs import InputItem, JobInputs
from hymotep.queue import Job
from hymotep.settings import command_search_path
from hymotep.storage import internal_href

MAJA_MODES = {"init": "L2INIT", "backward": "L2BACKWARD", "nominal": "L2NOMINAL"}
EARTH_EXPLORER_DATA = (".DBL.DIR", ".DBL")  # MAJA's auxiliary products: a .HDR header beside its data
# What MAJA reads in its -ucs folder (orchestrator/launcher/app_handler.py and the plugins' initialize): the system
# configuration, and the configuration of each plugin it loads: SENTINEL2 for the L1C SAFE it reads, SENTINEL2_MUSCATE
# for the THEIA L2A it writes and, NOMINAL, reads back. It stops when one is missing.
MAJA_USER_CONFIGURATION = (
    "MAJAUserConfigSystem.xml", "MAJAUserConfig_SENTINEL2.xml", "MAJAUserConfig_SENTINEL2_MUSCATE.xml",
)  # fmt: skip
# The keys of let_it_snow_fsc.py's launch file (LIS 1.7+ README and app/let_it_snow_fsc.py, which reads each with
# a default); an optional one without a value is left out rather than written null.
LIS_LAUNCH_KEYS = (
    "input_dir", "output_dir", "dem", "tcd", "water_mask", "relief_shadow_mask", "config_file", "chain_version",
    "product_counter", "log",
)  # fmt: skip


class AdapterError(HymotepError):
    """The job's command cannot be prepared (a chain's command not found, an input missing)."""


FAILURE_NOTE = "hesp: job failed:"  # the runner's last line in the log of an attempt that failed
# The emptied work directory of a job that succeeded, kept (hidden) in its collection's folder to be the next job's:
# on an ext4 file system without a journal, every inode made soon after others were freed searches past them, and
# making and removing a job's folders was a third of the processor time of a no-op job (benchmarks/run.py).
SPARE = ".spare-"
FOLDERS = ("input", "output", "tmp")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def create(cls, work_root: Path, job: Job) -> Workspace:
        """A fresh work directory for this attempt of ``job``. What killed attempts left (their log does not end
        with the runner's failure note) is cleared; the directories of failed attempts are kept to look into."""
        root = work_root / job.collection / f"job-{job.id}-{job.attempts}"
        try:
            names = os.listdir(root.parent)  # not a glob: a pattern of its own a job is a regex compiled a job
        except FileNotFoundError:
            names = []
        for earlier in (root.parent / name for name in names if name.startswith(f"job-{job.id}-")):
            if earlier == root or not cls(earlier).ended_in_failure():
                shutil.rmtree(earlier, ignore_errors=True)
        if not any(_taken(root.parent / name, root) for name in names if name.startswith(SPARE)):
            root.mkdir(parents=True)
        for folder in FOLDERS:  # a spare has input and tmp, empty
            with contextlib.suppress(FileExistsError):
                os.mkdir(root / folder)
        return cls(root)

    def retire(self) -> None:
        """Empty the work directory of a job that succeeded and keep it as a spare for the next job of its
        collection (whichever worker takes it first); removed whole when it cannot be emptied."""
        try:
            for entry in os.scandir(self.root):
                if entry.name in FOLDERS and entry.name != "output" and entry.is_dir(follow_symlinks=False):
                    for inner in os.scandir(entry.path):
                        _remove(inner)
                else:
                    _remove(entry)
            os.rename(self.root, self.root.with_name(f"{SPARE}{uuid.uuid4().hex}"))
        except OSError:
            shutil.rmtree(self.root, ignore_errors=True)

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

    def ended_in_failure(self) -> bool:
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, self.log_path.stat().st_size - 4096))
                lines = log.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return False
        return bool(lines) and lines[-1].startswith(FAILURE_NOTE)


def _taken(spare: Path, root: Path) -> bool:
    """Whether ``spare`` became ``root`` (another job may have taken it first)."""
    try:
        spare.rename(root)
    except OSError:
        return False
    return True


def _remove(entry: os.DirEntry[str]) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path)
    else:
        os.unlink(entry.path)


@dataclass(frozen=True)
class Invocation:
    """A prepared command: argument list, environment additions, and the directories a container must see."""

    argv: list[str]
    env: dict[str, str]
    binds: list[Path]


def prepare(
    job: Job, chain: ChainDefinition, inputs: JobInputs, workspace: Workspace, chain_path: str, home: Path
) -> Invocation:
    """Lay out ``workspace`` for ``job`` and build its command; ``home``: the centre's HESP_HOME, what ``{home}``
    stands for in the chain's settings."""
    run = chain.run
    if run is None:
        raise AdapterError(f"chain {chain.name} of {chain.collection} has no run section in its chain.yaml")
    products = [item.product_path() for item in inputs.all()]  # each checked on disk once
    values: dict[str, str | list[str]] = {**_job_values(job, chain, inputs, products, workspace)}
    values.update(ADAPTERS[run.adapter](Context(job, chain, run, inputs, workspace, home)))
    argv = _arguments(run.command, values)
    env = {
        **run.environment,
        "HESP_JOB_ID": str(job.id),
        "HESP_CHAIN_VERSION": job.chain_version,
        "HESP_TILE": job.tile,
        "TMPDIR": str(workspace.tmp_dir),
    }
    configured = (run.setting_path(name, home) for name in run.settings if name in PATH_SETTINGS)
    settings = [path for path in configured if path is not None and path.exists()]
    binds = sorted({
        workspace.root,
        *(product.resolve().parent for product in products),
        *(path.resolve() if path.is_dir() else path.resolve().parent for path in settings),
    })  # fmt: skip
    if run.container is None:
        argv[0] = _executable(argv[0], chain_path)
    else:
        argv = container_command(run, binds, env) + argv
    return Invocation(argv, env, binds)


def _arguments(command: tuple[str, ...], values: dict[str, str | list[str]]) -> list[str]:
    """The command with its placeholders filled; a list value (``{input_metadata}``) is as many arguments."""
    argv: list[str] = []
    for part in command:
        value = values.get(part[1:-1]) if part.startswith("{") and part.endswith("}") else None
        if isinstance(value, list):
            argv.extend(value)
        else:
            argv.append(part.format_map({k: v for k, v in values.items() if isinstance(v, str)}))
    return argv


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


def _job_values(
    job: Job, chain: ChainDefinition, inputs: JobInputs, products: list[Path], workspace: Workspace
) -> dict[str, str]:
    """The placeholders every job has; the inputs (``products``: where each of ``inputs.all()`` is) are linked,
    listed and described on the way."""
    for product in products:
        _link(product, workspace.input_dir)
    primaries = [str(product) for product in products[: len(inputs.primary)]]
    inputs_file = workspace.root / "inputs.txt"
    inputs_file.write_text("".join(f"{p}\n" for p in primaries))
    job_file = workspace.root / "job.json"
    unit = inputs.unit
    description = {
        "job": job.id, "collection": job.collection, "chain": chain.name, "version": job.chain_version,
        "tile": job.tile, "slot": job.slot, "mode": job.mode, "acquired": unit.acquired.isoformat(),
        "period": [str(unit.period_start), str(unit.period_end)] if unit.period_start else None,
        "inputs": [{"role": i.role, "collection": i.collection, "id": i.id, "path": str(product)}
                   for i, product in zip(inputs.all(), products, strict=True)],
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
    """Where ``name`` is on HESP_CHAIN_PATH, then PATH; a path found before is taken again while it is still an
    executable (a worker runs the same commands all day: no search of every folder each job)."""
    search = command_search_path(chain_path)
    known = _FOUND.get((name, search))
    if known is not None and os.access(known, os.X_OK) and not os.path.isdir(known):
        return known
    found = shutil.which(name, path=search)
    if found is None:
        raise AdapterError(f"command {name!r} not found on HESP_CHAIN_PATH or PATH")
    _FOUND[name, search] = found
    return found


_FOUND: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Context:
    """What an adapter prepares a job from."""

    job: Job
    chain: ChainDefinition
    run: RunSpec
    inputs: JobInputs
    workspace: Workspace
    home: Path  # the centre's HESP_HOME: {home} in the settings

    def setting(self, name: str) -> Path | None:
        return self.run.setting_path(name, self.home)


def missing_user_configuration(folder: Path) -> list[str]:
    """What MAJA's user configuration folder lacks for MAJA to start (all of it when the folder is missing)."""
    return [name for name in MAJA_USER_CONFIGURATION if not (folder / name).is_file()]


def configuration_problems(chain: ChainDefinition, home: Path) -> list[str]:
    """What the chain's tool would stop on before reading any input, found before a job runs (``hesp doctor``):
    MAJA's user configuration folder."""
    userconf = chain.run.setting_path("userconf", home) if chain.run and chain.run.adapter == "maja" else None
    missing = missing_user_configuration(userconf) if userconf else []
    return [f"MAJA's user configuration folder {userconf} lacks {', '.join(missing)}"] if missing else []


def _generic(context: Context) -> dict[str, str | list[str]]:
    return {}


def _maja(context: Context) -> dict[str, str | list[str]]:
    """MAJA's input folder holds the L1C (and, BACKWARD, the next ones), the DEM, the CAMS and, NOMINAL, the
    previous L2A, all linked already, and the GIPP parameter files of the ``gipp`` setting; -ucs is the user
    configuration folder of the ``userconf`` setting, checked as MAJA checks it; the mode is the unit's, as
    Start_maja chooses it."""
    job, inputs = context.job, context.inputs
    if job.mode not in MAJA_MODES:
        raise AdapterError(f"job {job.id}: MAJA needs a mode (init, backward or nominal), not {job.mode!r}")
    if job.mode == "nominal" and inputs.previous is None:
        raise AdapterError(f"job {job.id}: NOMINAL mode without a previous valid L2A of {job.tile}")
    problems = configuration_problems(context.chain, context.home)
    if problems:
        raise AdapterError(problems[0])
    gipp = context.setting("gipp")
    if gipp is not None and not gipp.is_dir():
        raise AdapterError(f"the GIPP folder {gipp} of the maja-l2a chain is missing")
    for parameters in sorted(gipp.iterdir()) if gipp else []:
        _link(parameters, context.workspace.input_dir)
    return {"maja_mode": MAJA_MODES[job.mode], "userconf": str(context.setting("userconf"))}


def _lis(context: Context) -> dict[str, str | list[str]]:
    """let_it_snow_fsc.py's launch file: the L2A folder, the DEM of the tile, where to write; the configuration,
    tree cover density, water mask and relief shadow mask of the settings when they are given."""
    optional = ("tcd", "water_mask", "relief_shadow_mask", "config_file")
    settings = {name: str(context.setting(name)) for name in optional if name in context.run.settings}
    launch: dict[str, str] = {
        "input_dir": str(context.inputs.primary[0].product_path()),
        "output_dir": str(context.workspace.output_dir),
        "dem": str(_asset_path(context.inputs, "dem-tiles", "ALT_R2")),
        **settings,
        "chain_version": context.job.chain_version,
        "product_counter": "1",
        "log": "INFO",
    }
    path = context.workspace.root / "launch.json"
    path.write_text(json.dumps({key: launch[key] for key in LIS_LAUNCH_KEYS if key in launch}, indent=2))
    return {"launch_file": str(path)}


def _s1tiling(context: Context) -> dict[str, str | list[str]]:
    """S1Processor's config.cfg for one pass over one tile, with every option S1Tiling 1.1 requires
    (s1tiling/libs/configuration.py): the GRD slices of the pass, linked into the input folder, and its orbit; the
    DEM tiles of the settings (``dem_dir``, with their footprints ``dem_database`` and file names ``dem_format``
    when given, else S1Tiling's SRTM defaults)."""
    job, run, workspace = context.job, context.run, context.workspace
    first = context.inputs.primary[0].item["properties"]
    day = context.inputs.unit.acquired.date()
    dem_dir = context.setting("dem_dir")
    if dem_dir is None or not dem_dir.is_dir():
        raise AdapterError(f"the DEM folder {dem_dir} of the {job.collection} chain (setting dem_dir) is missing")
    dem_database = context.setting("dem_database")
    config = configparser.ConfigParser(interpolation=None)
    paths = {"output": str(workspace.output_dir), "tmp": str(workspace.tmp_dir), "s1_images": str(workspace.input_dir),
             "dem_dir": str(dem_dir)}  # fmt: skip
    if dem_database is not None:
        paths["dem_database"] = str(dem_database)
    if "dem_format" in run.settings:
        paths["dem_format"] = run.settings["dem_format"]
    config["Paths"] = paths
    config["DataSource"] = {
        "download": "False",
        "roi_by_tiles": job.tile,
        "polarisation": run.settings.get("polarisation", "VV-VH"),
        "orbit_direction": {"ascending": "ASC", "descending": "DES"}.get(first.get("sat:orbit_state", ""), ""),
        "relative_orbit_list": str(first.get("sat:relative_orbit", "")),
        "first_date": day.isoformat(),
        "last_date": day.isoformat(),  # S1Tiling keeps first_date <= the slice's start day <= last_date
    }
    config["Mask"] = {"generate_border_mask": "True"}
    config["Processing"] = {
        "cache_dem_by": "symlink",
        "calibration": run.settings.get("calibration", "sigma"),
        "remove_thermal_noise": "True",
        "output_spatial_resolution": run.settings.get("output_spatial_resolution", "10."),
        "orthorectification_gridspacing": "40",
        "orthorectification_interpolation_method": "nn",
        "tiles": job.tile,
        "mode": "logging",
        "nb_parallel_processes": "1",
        "ram_per_process": run.environment.get("OTB_MAX_RAM_HINT", "4096"),
        "nb_otb_threads": run.environment.get("OMP_NUM_THREADS", "4"),
    }
    path = workspace.root / "config.cfg"
    with path.open("w") as out:
        config.write(out)
    return {"config_file": str(path)}


def _wasp(context: Context) -> dict[str, str | list[str]]:
    """WASP's --input (the MTD_ALL.xml of every valid L2A of the window), --date and --synthalf of the unit."""
    synthesis: Synthesis | None = context.chain.synthesis
    start = context.inputs.unit.period_start
    if synthesis is None or start is None:
        raise AdapterError(
            f"the wasp adapter needs a synthesis date and window (unit.synthesis) in the chain of "
            f"{context.chain.collection}"
        )
    metadata = []
    for item in context.inputs.primary:
        product = item.product_path()
        found = sorted(product.glob("*_MTD_ALL.xml"))
        if not found:
            raise AdapterError(f"input {item.id} has no MTD_ALL.xml metadata file in {product}")
        metadata.append(str(found[0]))
    return {
        "input_metadata": metadata,
        "synthesis_date": f"{synthesis.centre(start):%Y%m%d}",
        "synthalf": str(synthesis.half_days),
    }


def _asset_path(inputs: JobInputs, collection: str, key: str) -> Path:
    item: InputItem | None = next((i for i in inputs.all() if i.collection == collection), None)
    asset = (item.item.get("assets", {}) if item else {}).get(key)
    if asset is None:
        raise AdapterError(f"no {collection} input with a {key} asset for tile {inputs.unit.tile}")
    return Path(internal_href(asset).removeprefix("file://"))


ADAPTERS: dict[str, Callable[[Context], dict[str, str | list[str]]]] = {
    "generic": _generic,
    "maja": _maja,
    "lis": _lis,
    "s1tiling": _s1tiling,
    "wasp": _wasp,
}
