"""The storage root keeps what chains make in its place: names from the outputs cannot lead out of it, and
outputs cannot link to files elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hymotep import storage

WHEN = datetime(2024, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "name", ["../../../etc", "..", ".", "/etc/cron.d", "a/b", "", ".hidden", "x\x00y", "a\\b", " padded"]
)
def test_a_name_that_is_not_one_plain_component_stores_nothing(tmp_path: Path, name: str) -> None:
    with pytest.raises(storage.UnsafeOutput):
        storage.product_folder(tmp_path / "storage", "maja-l2a", "31TCJ", WHEN, name)


def test_a_plain_name_is_under_the_root(tmp_path: Path) -> None:
    folder = storage.product_folder(tmp_path, "maja-l2a", "31TCJ", WHEN, "SENTINEL2A_X_L2A_T31TCJ_C_V4-0")
    assert folder == tmp_path / "maja-l2a" / "31TCJ" / "2024" / "SENTINEL2A_X_L2A_T31TCJ_C_V4-0"


def test_outputs_that_link_out_are_refused_and_links_inside_pass(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not the product's")
    product = tmp_path / "out" / "PRODUCT"
    product.mkdir(parents=True)
    (product / "data.tif").write_bytes(b"raster")
    (product / "alias.tif").symlink_to("data.tif")
    storage.check_links(tmp_path / "out")
    (product / "QKL.png").symlink_to(secret)
    with pytest.raises(storage.UnsafeOutput, match="links out of the product"):
        storage.check_links(tmp_path / "out")
    (product / "QKL.png").unlink()
    (product / "loop").symlink_to(product / "loop")
    with pytest.raises(storage.UnsafeOutput):
        storage.check_links(tmp_path / "out")
