"""Bad configuration: one clear line on stderr, exit code 1, nothing changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import free_port, hesp

from hygor.settings import default_collections_dir


def assert_one_line_error(result: object, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr  # type: ignore[attr-defined]
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_unreachable_database_url() -> None:
    url = f"postgresql://someone:secret@127.0.0.1:{free_port()}/nowhere"
    for command in (["db", "status"], ["db", "init"], ["collections", "list"]):
        result = hesp(*command, env={"HESP_DATABASE_URL": url})
        assert_one_line_error(result, "cannot connect to postgresql://someone:***@127.0.0.1")
        assert "secret" not in result.stderr


def test_malformed_database_url() -> None:
    assert_one_line_error(hesp("db", "status", env={"HESP_DATABASE_URL": "postgresql://[broken"}), "HESP_DATABASE_URL")


def test_malformed_collection_json_is_named_and_nothing_is_written(tmp_path: Path, db_url: str) -> None:
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    broken = collections / "lis-snow" / "collection.json"
    broken.write_text(broken.read_text()[:-40])
    env = {"HESP_DATABASE_URL": db_url, "HESP_COLLECTIONS_DIR": str(collections)}
    before = hesp("collections", "list", "--format", "json", env=env).stdout

    for command in (["db", "init"], ["collections", "sync"]):
        assert_one_line_error(hesp(*command, env=env), str(broken), "invalid JSON at line")
    assert hesp("collections", "list", "--format", "json", env=env).stdout == before


def test_a_collection_that_breaks_the_stac_schema_is_named(tmp_path: Path, db_url: str) -> None:
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    path = collections / "maja-l2a" / "collection.json"
    document = json.loads(path.read_text())
    del document["extent"]
    path.write_text(json.dumps(document))
    env = {"HESP_DATABASE_URL": db_url, "HESP_COLLECTIONS_DIR": str(collections)}
    assert_one_line_error(hesp("collections", "sync", env=env), str(path), "extent")


def test_a_bad_catalogue_setting_is_named(tmp_path: Path, db_url: str) -> None:
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    (collections / "lis-snow" / "catalogue.yaml").write_text("partition_trunc: week\n")
    env = {"HESP_DATABASE_URL": db_url, "HESP_COLLECTIONS_DIR": str(collections)}
    assert_one_line_error(hesp("collections", "sync", env=env), "catalogue.yaml", "partition_trunc", "week")


def test_missing_postgresql_says_what_to_install(fresh_home: Path) -> None:
    env = {"HESP_HOME": str(fresh_home), "HESP_PG_BINDIR": str(fresh_home / "no-such-bin")}
    assert_one_line_error(
        hesp("db", "up", env=env),
        "PostgreSQL server binaries not found",
        "apt-get install postgresql-15 postgresql-15-postgis-3",
    )


def test_missing_postgis_says_what_to_install(fresh_home: Path, tmp_path: Path) -> None:
    """Real server binaries whose share folder has no PostGIS, as on a machine without the package."""
    real = Path("/usr/lib/postgresql/15/bin")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bindir / tool).symlink_to(real / tool)
    (tmp_path / "share" / "extension").mkdir(parents=True)
    (bindir / "pg_config").write_text(f"#!/bin/sh\necho {tmp_path / 'share'}\n")
    (bindir / "pg_config").chmod(0o755)
    env = {"HESP_HOME": str(fresh_home), "HESP_PG_BINDIR": str(bindir)}
    assert_one_line_error(hesp("db", "up", env=env), "PostGIS is not installed", "postgresql-15-postgis-3")
    assert not (fresh_home / "pgdata").exists()


def test_invalid_setting_is_named() -> None:
    assert_one_line_error(hesp("db", "status", env={"HESP_PORT": "fifty"}), "HESP_PORT")


def test_reset_needs_confirmation(db_url: str) -> None:
    result = hesp("db", "reset", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 2 and "--yes" in result.stderr


def test_a_busy_api_port_is_one_clear_line(db_url: str) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = hesp("serve", "--port", str(port), env={"HESP_DATABASE_URL": db_url})
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "--port")
