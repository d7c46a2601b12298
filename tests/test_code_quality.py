"""The code keeps to the project's rules: ruff (E, F, I, UP, B) and mypy --strict."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent
PACKAGES = ("hygor", "hymotep", "hydra", "reference_chains")


def test_ruff() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", *PACKAGES, "tests"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_strict() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def imported_modules(package: str) -> dict[Path, set[str]]:
    import ast

    found = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path] = names
    return found


def test_dependencies_point_one_way() -> None:
    """hydra -> hymotep -> hygor, and reference_chains -> hymotep -> hygor: of hydra, only the demo's command
    imports the reference chains; Typer and Rich only in the CLI; only settings modules read the environment."""
    forbidden = {
        "hygor": ("hymotep", "hydra", "reference_chains"),
        "hymotep": ("hydra", "reference_chains"),
        "reference_chains": ("hydra",),
    }
    for package, above in forbidden.items():
        for path, names in imported_modules(package).items():
            assert not {n for n in names if n.split(".")[0] in above}, path
    for path, names in imported_modules("hydra").items():
        if path != REPO / "hydra" / "cli" / "demo.py":
            assert not {n for n in names if n.split(".")[0] == "reference_chains"}, path
    for package in PACKAGES:
        for path, names in imported_modules(package).items():
            if "cli" not in path.relative_to(REPO).parts:
                assert not {n for n in names if n.split(".")[0] in {"typer", "rich"}}, path
            if path.name != "settings.py":
                assert "os.environ" not in path.read_text() and "getenv" not in path.read_text(), path


def test_hydra_reads_production_through_hymotep() -> None:
    """Production's tables are hymotep's: hydra reads them through hymotep's Python API, never by name."""
    for path in (REPO / "hydra").rglob("*"):
        if path.suffix in {".py", ".sql"}:
            named = set(re.findall(r"hesp\.(?:jobs|requests|request_tiles)\b", path.read_text()))
            assert not named, f"{path} names {', '.join(sorted(named))}"
