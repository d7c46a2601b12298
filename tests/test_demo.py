"""The README's main job, as a newcomer runs it: `hesp demo` on a fresh embedded database."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import hesp


def test_demo_produces_every_product_and_serves_them_with_lineage(fresh_home: Path) -> None:
    result = hesp("demo", env={"HESP_HOME": str(fresh_home)}, timeout=600)
    problems = [line for line in result.stdout.splitlines() if line.startswith("job ") or "not valid" in line]
    production = result.stdout.partition("5. running the missing work")[2].partition("7. the outputs")[0]
    assert result.returncode == 0, "\n".join([*problems, production, result.stdout[-1000:], result.stderr])
    out = result.stdout
    assert "rejected 0" in out
    ran = re.search(r"^\s+(\d+) │\s+(\d+) │\s+0 │\s+0 │\s+0 │\s+[\d.]+\s*$", out, re.MULTILINE)
    assert ran and ran[1] == ran[2] and int(ran[1]) >= 100, out  # planned == succeeded, nothing failed
    after = out.split("6. the gaps again")[1].split("7. the outputs")[0]
    assert re.findall(r"│\s+(\d+)\s*$", after, re.MULTILINE) == ["0"] * 4  # the gaps column: none left
    assert re.search(r"[1-9]\d+ GeoTIFFs under .*, 0 not valid COGs", out)
    assert re.search(r"snow item LIS_S2-SNOW-FSC_T\S+: made from SENTINEL2[AB]_\S+_L2A_", out)
