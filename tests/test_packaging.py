"""The wheel: it carries every file of the packages (collections, schemas, SQL, data, the dashboard), and the
installed copy works from another folder, reading its own files, not the checkout's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from conftest import REPO

PACKAGES = ("hygor", "hymotep", "hydra", "reference_chains")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# Run by the installed copy: the collections it reads, a reader and a request file against them, its version.
PROBE = """
import sys
from importlib import resources
from hygor.collections import load_collections
from hygor.readers.outputs import asset
from hygor.settings import Settings
from hymotep.requests import load_request_file, produced_chains
from pathlib import Path
collections = Settings().collections_dir
example = Path(str(resources.files("hymotep").joinpath("examples", "pyrenees-snow.yaml")))
request = load_request_file(example, produced_chains(collections))
print(collections)
print(len(load_collections(collections)), request.name)
print(asset("lis-snow", "FSC-TOC", Path("x.tif"))["title"])
"""


def package_files() -> set[str]:
    return {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (a build writes build/ and egg-info beside them), offline."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "dist", "."]
    subprocess.run(command, cwd=source, check=True, capture_output=True, timeout=300)
    return next((source / "dist").glob("hesperides-*.whl"))


def test_the_wheel_carries_every_package_file_and_runs_from_where_it_is_installed(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert wheel.name == f"hesperides-{VERSION}-py3-none-any.whl"
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert package_files() - in_wheel == set()
    assert "hygor/data/collections/maja-l2a/chain.yaml" in in_wheel and "hymotep/schemas/chain.schema.json" in in_wheel

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"PYTHONPATH": str(target)}
    shipped = target / "hygor" / "data" / "collections"
    collections, loaded, title = probe(elsewhere, env)
    assert Path(collections) == shipped
    assert loaded == f"{len(list(shipped.glob('*/collection.json')))} pyrenees-snow"
    assert title.startswith("FSC-TOC")

    site = tmp_path / "site-collections"  # a site's own collections: the readers describe assets from them
    shutil.copytree(shipped, site)
    document = json.loads((site / "lis-snow" / "collection.json").read_text())
    document["item_assets"]["FSC-TOC"]["title"] = "the site's snow cover"
    (site / "lis-snow" / "collection.json").write_text(json.dumps(document))
    assert probe(elsewhere, env | {"HESP_COLLECTIONS_DIR": str(site)})[::2] == [str(site), "the site's snow cover"]

    version = subprocess.run([str(target / "bin" / "hesp"), "--version"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.stdout.strip() == f"hesp {VERSION}", version.stderr


def probe(cwd: Path, env: dict[str, str]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()
