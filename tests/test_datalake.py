"""The demo production with its products in S3-compatible object storage (a moto server process on loopback),
published at the bucket's own HTTP URL: nothing left to do, every output object in the bucket, and every asset of
every output item the STAC API serves fetched in ranges over HTTP and, for the COGs, read by GDAL through
``/vsicurl/``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import obstore
import pytest
from conftest import hesp, moto_s3
from obstore.store import S3Store
from published import served_items, unreachable_assets

from hygor import Catalog, Settings
from hygor.api.server import BackgroundServer
from hygor.cluster import EmbeddedCluster
from hymotep.storage import internal_href

BUCKET = "datalake"
PREFIX = "hesperides"
OUTPUTS = ["maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly"]


pytestmark = pytest.mark.timeout(1200)  # the demo's production, uploads and downloads through moto's server


@pytest.fixture(scope="module")
def demo(work_root: Path) -> Iterator[tuple[dict[str, str], subprocess.CompletedProcess[str]]]:
    home = work_root / "datalake-demo"
    home.mkdir()
    home.chmod(0o755)
    with moto_s3() as aws:
        bucket = f"{aws['AWS_ENDPOINT_URL']}/{BUCKET}"
        assert httpx.put(bucket).status_code == 200
        # The products are published as a datalake publishes them: anyone may read the objects under the prefix
        # (a bucket policy; moto enforces it: without, an anonymous GET is 403). AWS counts HEAD as GetObject,
        # moto asks for HeadObject.
        read = {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:HeadObject"],
                "Resource": f"arn:aws:s3:::{BUCKET}/{PREFIX}/*"}  # fmt: skip
        policy = {"Version": "2012-10-17", "Statement": [read]}
        assert httpx.put(f"{bucket}?policy", content=json.dumps(policy)).status_code == 200
        env = {**aws, "HESP_HOME": str(home), "HESP_STORAGE": f"s3://{BUCKET}/{PREFIX}",
               "HESP_PUBLIC_URL": f"{aws['AWS_ENDPOINT_URL']}/{BUCKET}/{PREFIX}"}  # fmt: skip
        yield env, hesp("demo", env=env, timeout=900)
        EmbeddedCluster(home, 0).down()


def test_the_demo_production_runs_with_its_products_in_object_storage(
    demo: tuple[dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    env, result = demo
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr  # the demo exits 1 with anything undone
    assert f"GeoTIFFs in s3://{BUCKET}/{PREFIX}, 0 not valid COGs" in result.stdout.replace("\n", " "), result.stdout
    assert not list((Path(env["HESP_HOME"]) / "storage").glob("*/*")), "no product in a folder"

    store = S3Store(BUCKET, endpoint=env["AWS_ENDPOINT_URL"], allow_http=True, region="us-east-1",
                    access_key_id="test", secret_access_key="test")  # fmt: skip
    stored = {str(o["path"]): int(o["size"]) for batch in obstore.list(store, f"{PREFIX}/") for o in batch}
    catalog = Catalog(Settings(home=Path(env["HESP_HOME"])))
    with BackgroundServer(catalog.api()) as api:
        items = served_items(api, OUTPUTS)
    assert {item["collection"] for item in items} == set(OUTPUTS) and len(items) >= 90
    for item in items:
        for asset in item["assets"].values():
            key = internal_href(asset).removeprefix(f"s3://{BUCKET}/")
            assert stored.get(key) == asset["file:size"], f"{item['id']}: {key} missing or of another size"
        if item["properties"].get("hesp:valid", True):
            assert "thumbnail" in item["assets"], item["id"]
    assert unreachable_assets(items) == []


def test_the_chains_read_the_products_of_the_bucket_whole_and_the_logs_stay_on_a_folder(
    demo: tuple[dict[str, str], subprocess.CompletedProcess[str]],
) -> None:
    """LIS, Surfwater, WASP and MAJA NOMINAL read L2A products kept in the bucket: each was fetched into the input
    cache whole, every object under its key, not only the files its item lists."""
    env, result = demo
    assert result.returncode == 0, result.stdout[-3000:]
    home = Path(env["HESP_HOME"])
    store = S3Store(BUCKET, endpoint=env["AWS_ENDPOINT_URL"], allow_http=True, region="us-east-1",
                    access_key_id="test", secret_access_key="test")  # fmt: skip
    l2a = [str(o["path"]) for batch in obstore.list(store, f"{PREFIX}/maja-l2a/") for o in batch]
    entries = [folder for folder in (home / "input-cache" / "maja-l2a").iterdir() if folder.is_dir()]
    assert len(entries) >= 30, entries  # every valid L2A, read by LIS and Surfwater at least
    for entry in entries:
        (product,) = entry.iterdir()
        cached = {p.relative_to(product).as_posix() for p in product.rglob("*") if p.is_file()}
        stored = {key.partition(f"/{product.name}/")[2] for key in l2a if f"/{product.name}/" in key}
        assert cached == stored, entry
    logs = list((home / "logs").rglob("job-*.log"))
    assert len(logs) >= 100 and not list((home / "storage").rglob("*.log"))
