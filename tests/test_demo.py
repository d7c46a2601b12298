"""The README's main job, as a newcomer runs it: `hesp demo` on a fresh embedded database, then the commands it
suggests, in its HESP_HOME."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Server, free_port, hesp
from published import served_items, unreachable_assets

from hygor.cluster import EmbeddedCluster


@pytest.fixture(scope="module")
def demo(work_root: Path) -> Iterator[tuple[dict[str, str], subprocess.CompletedProcess[str]]]:
    """The demo's environment (no HESP_CHAIN_PATH) and its run."""
    home = work_root / "demo"
    home.mkdir()
    home.chmod(0o755)
    # Published where the test's `hesp serve` will serve the storage folder (8080 by default).
    env = {"HESP_HOME": str(home), "HESP_PUBLIC_URL": f"http://127.0.0.1:{free_port()}/storage"}
    yield env, hesp("demo", env=env, timeout=600)
    EmbeddedCluster(home, 0).down()


def test_demo_produces_every_product_and_serves_them_with_lineage(
    demo: tuple[dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    result = demo[1]
    problems = [line for line in result.stdout.splitlines() if line.startswith("job ") or "not valid" in line]
    production = result.stdout.partition("5. running the missing work")[2].partition("7. the outputs")[0]
    assert result.returncode == 0, "\n".join([*problems, production, result.stdout[-1000:], result.stderr])
    out = result.stdout
    assert "rejected 0" in out
    ran = re.search(r"^\s+(\d+) │\s+(\d+) │\s+0 │\s+0 │\s+0 │\s+[\d.]+\s*$", out, re.MULTILINE)
    assert ran and ran[1] == ran[2] and int(ran[1]) >= 100, out  # planned == succeeded, nothing failed
    after = out.split("6. the gaps again")[1].split("7. the outputs")[0]
    assert re.findall(r"│\s+(\d+)\s*$", after, re.MULTILINE) == ["0"] * 4  # the gaps column: none left
    assert re.search(r"[1-9]\d+ GeoTIFFs in .*, 0 not valid COGs", out)
    assert re.search(r"snow item LIS_S2-SNOW-FSC_T\S+: made from SENTINEL2[AB]_\S+_L2A_", out)


def test_the_commands_the_demo_suggests_agree_with_it(
    demo: tuple[dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    """In the demo's HESP_HOME, without HESP_CHAIN_PATH: doctor finds the chains the demo ran (their path is
    recorded in HESP_HOME), status counts the demo's jobs, gaps has none left and run finds nothing to do."""
    env, result = demo
    assert result.returncode == 0, result.stdout[-1000:]
    doctor = hesp("doctor", "--min-free-gb", "0", env=env, timeout=60)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert re.search(r"^PASS\s+chain commands", doctor.stdout, re.MULTILINE), doctor.stdout
    status = json.loads(hesp("status", "--format", "json", env=env, timeout=60).stdout)
    succeeded = {c["collection"]: c.get("succeeded", 0) for c in status["collections"]}
    assert set(succeeded) == {"maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly"}, status
    assert all(succeeded.values()) and status["failures"] == [], status
    gaps = json.loads(hesp("gaps", "--request", "demo", "--format", "json", env=env, timeout=60).stdout)
    assert {row["collection"]: row["gaps"] for row in gaps} == dict.fromkeys(succeeded, 0), gaps
    run = hesp("run", "--request", "demo", "--workers", "1", env=env, timeout=300)
    assert run.returncode == 0 and "nothing to run" in run.stdout, run.stdout + run.stderr


def test_hesp_serve_publishes_every_output_asset_for_the_portals(
    demo: tuple[dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    """Each asset of each output item `hesp serve` lists answers at its href, served from the storage folder in
    ranges, and GDAL reads a window of each COG through /vsicurl/."""
    env, result = demo
    assert result.returncode == 0, result.stdout[-1000:]
    port = int(env["HESP_PUBLIC_URL"].split(":")[2].split("/")[0])
    server = Server(env, port=port)
    try:
        items = served_items(server.url, ["maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly"])
        assert len(items) >= 90 and all(a["href"].startswith(env["HESP_PUBLIC_URL"]) for i in items
                                        for a in i["assets"].values())  # fmt: skip
        assert unreachable_assets(items) == []
    finally:
        server.stop()
