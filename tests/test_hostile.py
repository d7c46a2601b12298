"""The hostile-input corpus (``tests/hostile/``) against a running ``hesp serve`` and a real ``hesp ingest``.

The API must answer every request of ``api.jsonl`` below 500, in the STAC error format, without SQL, traces or
paths, and still answer afterwards; nothing may be written without the token. Ingest must load every good item
of ``ingest/`` and name every hostile product with its reason, store nothing of them and read no file outside
its inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
from conftest import FIXTURES, HESP, snapshot

CORPUS = Path(__file__).with_name("hostile")
MUSCATE_MTD = FIXTURES / "real" / "theia" / "SENTINEL2A_20170203-071245-541_L2A_T38KPD_C_V1-0_MTD_ALL.xml"
TOKEN = "hostile-token"
LEAKS = ("Traceback", "SELECT ", "pgstac.", "psycopg", "asyncpg", "/work/", "site-packages", TOKEN)
# Ids of the good items of ingest/ (good/, the first of two twins) and of the one in a file whose name is not
# UTF-8 (a name is no reason to refuse an item): the corpus run loads exactly these.
GOOD = {"good-beside", "good-line-1", "good-line-2", "good-line-3", "twin", "not-utf8-name"}


def api_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CORPUS / "api.jsonl").read_text().splitlines() if line.strip()]


def send(api: httpx.Client, case: dict[str, Any]) -> httpx.Response:
    headers = [(name, value) for name, values in case.get("headers", {}).items() for value in _listed(values)]
    content = case["content"].encode("utf-8", "surrogateescape") if "content" in case else None
    return api.request(
        case["method"], case["path"], params=case.get("params"), headers=headers, json=case.get("json"), content=content
    )


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_the_api_corpus_gets_no_500_and_the_server_lives_on(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db, "HESP_API_TOKEN": TOKEN})
    before = snapshot(filled_db)
    faults = []
    with httpx.Client(base_url=server.url, timeout=60) as api:
        for case in api_cases():
            try:
                answer = send(api, case)
            except httpx.TransportError as exc:
                if not case.get("may_close"):
                    faults.append(f"{case['note']} {case.get('params') or case['path']}: connection {exc!r}")
                continue
            if answer.status_code >= 500:
                faults.append(
                    f"{case['note']} {case.get('params') or case['path']}: {answer.status_code} {answer.text}"
                )
            elif answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
                body = answer.json()
                asked = json.dumps(case, ensure_ascii=False)  # what the request said may be echoed back
                leaks = [leak for leak in LEAKS if leak in body["description"] and leak not in asked]
                if set(body) != {"code", "description"} or leaks:
                    faults.append(f"{case['note']}: error body {answer.text[:300]}")
        assert api.get("/").status_code == 200
    assert faults == [], "\n".join(faults)
    assert snapshot(filled_db) == before
    assert "Traceback" not in server.output()


def write_hostile_muscate(root: Path) -> None:
    """The real THEIA L2A metadata (tests/fixtures/real/theia) made hostile, one product folder per case."""
    real = MUSCATE_MTD.read_text()
    product_id = MUSCATE_MTD.name.removesuffix("_MTD_ALL.xml")
    declaration, _, body = real.partition("?>")
    laughs = "".join(f'<!ENTITY l{n} "' + f"&l{n - 1};" * 10 + '">' for n in range(1, 10))
    doctype = "?>\n<!DOCTYPE Muscate_Metadata_Document [{}]>"
    cases = {
        "truncated": real[: len(real) // 2],
        "external-entity": declaration + doctype.format('<!ENTITY leak SYSTEM "file:///etc/hostname">')
        + body.replace(f"<PRODUCT_ID>{product_id}", "<PRODUCT_ID>&leak;", 1),
        "entity-expansion": declaration + doctype.format('<!ENTITY l0 "lol">' + laughs)
        + body.replace(f"<PRODUCT_ID>{product_id}", "<PRODUCT_ID>&l9;", 1),
        "absolute-id": real.replace(f"<PRODUCT_ID>{product_id}", "<PRODUCT_ID>/etc", 1),
        "dotdot-id": real.replace(f"<PRODUCT_ID>{product_id}", "<PRODUCT_ID>../../x", 1),
        "nan-orbit": real.replace('<ORBIT_NUMBER type="Orbit">8454<', '<ORBIT_NUMBER type="Orbit">nan<', 1),
        "huge-orbit": real.replace('<ORBIT_NUMBER type="Orbit">8454<', '<ORBIT_NUMBER type="Orbit">1e999<', 1),
        "impossible-date": re.sub(r"<ACQUISITION_DATE>[^<]*<", "<ACQUISITION_DATE>2017-02-30T07:12:45.541Z<", real,
                                  count=1),
    }  # fmt: skip
    for case, text in cases.items():
        assert text != real, case
        folder = root / case / product_id
        folder.mkdir(parents=True)
        (folder / MUSCATE_MTD.name).write_text(text)


def hostile_tree(tmp_path: Path) -> Path:
    """The ingest corpus, plus what a repository cannot hold: a symlink loop, a name that is not UTF-8, a huge
    item, a link to a folder outside the inputs; and the hostile variants of real MUSCATE metadata."""
    root = tmp_path / "incoming"
    shutil.copytree(CORPUS / "ingest", root)
    write_hostile_muscate(root / "muscate")
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to(root / "loop")
    (root / "outside").symlink_to("/etc")
    item = json.loads((root / "selfx.json").read_text())
    item["geometry"] = {"type": "Polygon", "coordinates": [[[1, 43], [2, 43], [2, 44], [1, 44], [1, 43]]]}
    huge = {**item, "id": "huge-properties", "properties": {**item["properties"], "notes": "x" * 5_000_000}}
    (root / "huge-properties.json").write_text(json.dumps(huge))
    name = os.fsencode(root) + b"/caf\xe9-\xff.json"
    with open(name, "w") as stream:
        json.dump({**item, "id": "not-utf8-name"}, stream)
    return root


def test_the_ingest_corpus_loads_the_good_and_names_the_rest(db_url: str, tmp_path: Path) -> None:
    root = hostile_tree(tmp_path)
    before = snapshot(db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": db_url}
    command = [HESP, "ingest", str(root), "--recursive", "--check-assets", "--format", "json"]
    run = subprocess.run(command, env=env, capture_output=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    with psycopg.connect(db_url) as conn:
        loaded = {row[0] for row in conn.execute("SELECT id FROM pgstac.items")} - {row[1][0] for row in before[1]}
        contents = " ".join(str(row[0]) for row in conn.execute("SELECT content FROM pgstac.items"))
    assert loaded == GOOD
    assert report["ingested"] == len(GOOD)
    rejected = {Path(r["path"]).relative_to(root).parts[0] for r in report["rejected"]}
    hostile = {p.name for p in root.iterdir() if p.name not in ("good", "loop", "outside")} - {"caf\udce9-\udcff.json"}
    assert hostile - {"esa", "muscate"} <= rejected
    muscate = {
        Path(r["path"]).relative_to(root / "muscate").parts[0] for r in report["rejected"] if "/muscate/" in r["path"]
    }
    assert muscate == {p.name for p in (root / "muscate").iterdir()}
    assert all(r["reason"] for r in report["rejected"])
    reasons = {Path(r["path"]).name: r["reason"] for r in report["rejected"]}
    assert "outside the ingested folders" in reasons["outside"] and "(a loop)" in reasons["again"]
    assert Path("/etc/hostname").read_text().strip() not in contents  # no external entity was resolved
    assert "Traceback" not in run.stderr.decode(errors="replace")
