"""``hesp`` imports a command's modules when the command runs (``hydra.cli.commands``): every command is still
there, and a command that reads the database does not start the readers, the loader, Dask or the API."""

from __future__ import annotations

import subprocess
import sys

from conftest import hesp

from hydra.cli.commands import COMMANDS

# What only ingest, harvest, run, watch and serve need: GDAL, pypgstac's loader and boto3, Dask, FastAPI.
HEAVY = (
    "rasterio", "boto3", "smart_open", "pypgstac.load", "dask", "distributed", "fastapi", "hygor.readers",
    "hygor.loader", "hymotep.execution",
)  # fmt: skip


def test_help_lists_every_command_and_each_has_its_help() -> None:
    listed = hesp("--help", env={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    for name in COMMANDS:
        assert f"│ {name} " in listed.stdout
    assert hesp("db", "--help").stdout.count("│ up ") == 1
    unknown = hesp("gapz")
    assert unknown.returncode == 2 and "Did you mean 'gaps'?" in unknown.stderr


def test_reading_commands_do_not_import_what_they_do_not_use() -> None:
    for command in ("gaps", "status", "plan", "request", "campaign"):
        module = COMMANDS[command].split(":")[0]
        code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
        loaded = set(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        )
        assert not loaded & set(HEAVY), f"hesp {command} imports {sorted(loaded & set(HEAVY))}"
