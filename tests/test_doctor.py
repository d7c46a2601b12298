"""``hesp doctor``: a healthy installation passes; each injected fault fails with its own clear line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import free_port, hesp

from reference_chains import launchers
from reference_chains.maja_userconf import write_user_configuration


@pytest.fixture
def healthy(db_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of an installation where every check passes: MAJA's user configuration folder is in its
    HESP_HOME, where the shipped maja-l2a chain.yaml names it."""
    write_user_configuration(tmp_path / "home" / "maja" / "userconf")
    return {
        "HESP_DATABASE_URL": db_url,
        "HESP_HOME": str(tmp_path / "home"),
        "HESP_STORAGE": str(tmp_path / "storage"),
        "HESP_CHAIN_PATH": str(launchers.install(tmp_path / "bin")),
    }


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, str]]:
    """The exit code and each check's line (without its name), by check name."""
    result = hesp("doctor", "--min-free-gb", "0", *args, env=env, timeout=60)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        outcome, rest = line.split(None, 1)
        name = next(n for n in NAMES if rest.startswith(n + " "))
        lines[name] = f"{outcome} {rest[len(name) :].strip()}"
    assert set(lines) == set(NAMES), result.stdout
    return result.returncode, lines


NAMES = (
    "database",
    "versions",
    "migrations",
    "collections",
    "chain commands",
    "storage",
    "free space",
    "object storage",
    "public URL",
    "stale leases",
    "workers",
)


def failing(lines: dict[str, str]) -> set[str]:
    return {name for name, line in lines.items() if line.startswith("FAIL")}


def test_healthy_installation_passes(healthy: dict[str, str]) -> None:
    code, lines = doctor(healthy)
    assert code == 0, {k: v for k, v in lines.items() if not v.startswith("PASS")}
    assert failing(lines) == set()
    assert lines["database"].startswith("PASS reachable at postgresql://")
    assert "PostgreSQL" in lines["database"]
    assert "pinned" in lines["versions"]
    assert lines["workers"] == "SKIP skipped (no --scheduler)"
    assert (Path(healthy["HESP_STORAGE"])).is_dir() and not list(Path(healthy["HESP_STORAGE"]).iterdir())


def test_json_output(healthy: dict[str, str]) -> None:
    import json

    result = hesp("doctor", "--min-free-gb", "0", "--format", "json", env=healthy, timeout=60)
    assert result.returncode == 0, result.stdout
    checks = json.loads(result.stdout)["checks"]
    assert [c["name"] for c in checks] == list(NAMES)
    assert {c["outcome"] for c in checks} == {"pass", "skip"}


def test_database_down(healthy: dict[str, str]) -> None:
    code, lines = doctor({**healthy, "HESP_DATABASE_URL": f"postgresql://hesp:secret@127.0.0.1:{free_port()}/hesp"})
    assert code == 1
    assert lines["database"].startswith("FAIL cannot connect to postgresql://hesp:***@127.0.0.1:")
    assert "secret" not in lines["database"]
    for name in ("versions", "migrations", "collections", "stale leases"):
        assert lines[name] == "FAIL skipped: no database"
    assert failing(lines) == {"database", "versions", "migrations", "collections", "stale leases"}


def test_missing_chain_command(healthy: dict[str, str]) -> None:
    env = {k: v for k, v in healthy.items() if k != "HESP_CHAIN_PATH"}
    code, lines = doctor(env)
    assert code == 1
    assert failing(lines) == {"chain commands"}
    assert "maja-l2a: maja not found on HESP_CHAIN_PATH or PATH" in lines["chain commands"]


def test_incomplete_maja_user_configuration(healthy: dict[str, str]) -> None:
    """MAJA stops without the files of its -ucs folder: doctor names the folder and what it lacks."""
    userconf = Path(healthy["HESP_HOME"]) / "maja" / "userconf"
    (userconf / "MAJAUserConfig_SENTINEL2.xml").unlink()
    code, lines = doctor(healthy)
    assert code == 1 and failing(lines) == {"chain commands"}
    assert lines["chain commands"] == (
        f"FAIL maja-l2a: MAJA's user configuration folder {userconf} lacks MAJAUserConfig_SENTINEL2.xml"
    )
    code, lines = doctor({**healthy, "HESP_HOME": str(userconf / "elsewhere")})
    assert lines["chain commands"] == (
        f"FAIL maja-l2a: MAJA's user configuration folder {userconf / 'elsewhere' / 'maja' / 'userconf'} lacks "
        "MAJAUserConfigSystem.xml, MAJAUserConfig_SENTINEL2.xml, MAJAUserConfig_SENTINEL2_MUSCATE.xml"
    )


def test_unwritable_storage(healthy: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")  # root ignores permissions, not a file in the way
    code, lines = doctor({**healthy, "HESP_STORAGE": str(tmp_path / "file" / "storage")})
    assert code == 1
    assert failing(lines) == {"storage", "free space"}
    assert lines["storage"].startswith(f"FAIL {tmp_path / 'file' / 'storage'} is not writable")


def test_low_free_space(healthy: dict[str, str]) -> None:
    result = hesp("doctor", "--min-free-gb", "1e9", env=healthy, timeout=60)
    assert result.returncode == 1
    assert "FAIL  free space" in result.stdout and "below the minimum of 1e+09 GB" in result.stdout


def test_stale_lease(healthy: dict[str, str], db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, worker, lease_until)"
            " VALUES ('maja-l2a', '4.0', '31TCJ', 1, 'running', 'gone', %s)",
            (datetime.now(UTC) - timedelta(hours=1),),
        )
    code, lines = doctor(healthy)
    assert code == 1
    assert failing(lines) == {"stale leases"}
    assert lines["stale leases"].startswith("FAIL 1 running job(s) past their lease (ids ")


def test_collections_out_of_sync(healthy: dict[str, str], db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT pgstac.update_collection(pgstac.get_collection('maja-l2a') || '{\"title\": \"old\"}')")
    code, lines = doctor(healthy)
    assert code == 1
    assert failing(lines) == {"collections"}
    assert "maja-l2a (differs)" in lines["collections"] and "hesp collections sync" in lines["collections"]


def test_unreachable_scheduler(healthy: dict[str, str]) -> None:
    code, lines = doctor(healthy, "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert code == 1
    assert failing(lines) == {"workers"}
    assert lines["workers"].startswith("FAIL cannot reach the scheduler at tcp://127.0.0.1:")


def test_object_storage_is_probed_and_needs_a_public_url(healthy: dict[str, str], s3_endpoint: str) -> None:
    """With HESP_STORAGE=s3://...: a probe object put and deleted, HESP_PUBLIC_URL required (by `hesp run` too)."""
    assert httpx.put(f"{s3_endpoint}/products").status_code == 200
    s3 = {**healthy, "HESP_STORAGE": "s3://products/centre", "HESP_PUBLIC_URL": "https://data.example.org/p"}
    code, lines = doctor(s3)
    assert code == 0, {k: v for k, v in lines.items() if not v.startswith("PASS")}
    assert lines["object storage"] == "PASS s3://products/centre reachable and writable", lines
    assert lines["public URL"] == "PASS products published at https://data.example.org/p/<key>"
    assert lines["storage"].startswith(f"PASS {healthy['HESP_HOME']}/logs and "), lines  # the logs stay on a folder
    code, lines = doctor({**s3, "HESP_STORAGE": "s3://no-such-bucket/centre"})
    assert code == 1 and failing(lines) == {"object storage"}, lines
    assert lines["object storage"].startswith("FAIL cannot write to the object storage: s3://no-such-bucket/centre")
    unpublished = {k: v for k, v in s3.items() if k != "HESP_PUBLIC_URL"}
    code, lines = doctor(unpublished)
    assert code == 1 and failing(lines) == {"public URL"}, lines
    assert lines["public URL"].startswith("FAIL HESP_PUBLIC_URL is not set: the products stored in s3://products")
    run = hesp("run", env=unpublished)
    assert run.returncode == 1 and "error: HESP_PUBLIC_URL is not set" in run.stderr, run.stdout + run.stderr
    assert lines_of(doctor({**healthy, "HESP_PUBLIC_URL": "ftp://x"}))["public URL"].startswith("FAIL HESP_PUBLIC_URL")
    assert lines_of(doctor(healthy))["object storage"] == "SKIP the storage is a folder"


def lines_of(result: tuple[int, dict[str, str]]) -> dict[str, str]:
    return result[1]
