"""Products for the portals (``hymotep.publication``): the outputs of the reference chains get checksums of
their files and a thumbnail, and stay valid items."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from products import PIXELS, write_cog, write_muscate_l2a, write_s1tiling

from hygor import Settings, grid
from hygor.collections import load_collections
from hygor.ingest import Checker, IngestOptions, input_folders
from hygor.items import EXTENSIONS
from hygor.readers import reader
from hymotep.publication import THUMBNAIL_SIDE, annotate_outputs, overview_level, write_thumbnail
from hymotep.staging import RemoteFile, check
from reference_chains import lis, surfwater

TILE = grid.tile("31TCJ")


def outputs(tmp_path: Path) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """What the chains write, each in its own output folder, with the items its reader reads:
    a MAJA L2A, LIS and Surfwater run on it, S1Tiling passes and an invalid (too cloudy) Surfwater product."""
    l2a = write_muscate_l2a(tmp_path / "maja", tile=TILE.id)
    dem = write_cog(tmp_path / "dem" / "DEM.tif", np.linspace(2500, 500, 400).reshape(20, 20).astype(np.int16), TILE)
    assert lis.main(["-i", str(l2a), "-o", str(tmp_path / "lis"), "-d", str(dem)]) == 0
    assert surfwater.main(["--input", str(l2a), "--output", str(tmp_path / "surfwater")]) == 0
    cloudy = write_muscate_l2a(tmp_path / "cloudy-l2a", tile=TILE.id, valid=False, with_rasters=False, cloud_cover=95)
    assert surfwater.main(["--input", str(cloudy), "--output", str(tmp_path / "invalid")]) == 0
    write_s1tiling(tmp_path / "s1tiling", tile=TILE.id, polarisations=("vv", "vh"))
    products = {
        "maja-l2a": ("theia-muscate", tmp_path / "maja", l2a),
        "lis-snow": ("theia-lis", tmp_path / "lis", tmp_path / "lis"),
        "surfwater-water": ("surfwater", tmp_path / "surfwater", next((tmp_path / "surfwater").iterdir())),
        "invalid": ("surfwater", tmp_path / "invalid", next((tmp_path / "invalid").iterdir())),
        "s1tiling": ("s1tiling", tmp_path / "s1tiling", tmp_path / "s1tiling" / TILE.id),
    }
    return {name: (output_dir, reader(kind).read(path)) for name, (kind, output_dir, path) in products.items()}


def test_every_output_asset_gets_its_size_and_checksum_and_every_valid_item_a_thumbnail(tmp_path: Path) -> None:
    definitions = {d.id: d for d in load_collections(Settings().collections_dir)}
    checker = Checker(definitions, set(definitions), IngestOptions())
    for name, (output_dir, items) in outputs(tmp_path).items():
        annotated = annotate_outputs(output_dir, items)
        assert len(annotated) == len(items)
        for item in annotated:
            assert checker.problem(item, input_folders([output_dir])) is None, name
            assert EXTENSIONS["file"] in item["stac_extensions"]
            for key, asset in item["assets"].items():
                path = Path(asset["href"])
                assert path.is_relative_to(output_dir), (name, key)
                assert asset["file:size"] == path.stat().st_size
                assert asset["file:checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
                check(RemoteFile.of(f"{name} {key}", asset), path)  # what staging checks a fetched copy with
            if item["properties"]["hesp:valid"] is False:
                assert "thumbnail" not in item["assets"], name  # no raster, no picture
                continue
            thumbnail = item["assets"]["thumbnail"]
            assert (thumbnail["type"], thumbnail["roles"]) == ("image/png", ["thumbnail"]) and thumbnail["title"]
            path = Path(thumbnail["href"])
            assert path.parent == Path(next(iter(item["assets"].values()))["href"]).parent  # beside its files
            with Image.open(path) as image:
                image.load()
                assert image.format == "PNG" and max(image.size) <= THUMBNAIL_SIDE
                assert image.mode in ("RGBA", "LA")
                alpha = np.asarray(image)[..., -1]
            assert (alpha[:, : alpha.shape[1] // 4 - 1] == 0).all(), name  # no data (the western quarter) shows not
            assert (alpha[:, alpha.shape[1] // 4 + 1 :] == 255).all(), name


def test_a_reflectance_thumbnail_is_red_green_blue_and_others_show_their_first_declared_raster(tmp_path: Path) -> None:
    products = outputs(tmp_path)
    (l2a,) = annotate_outputs(*products["maja-l2a"])
    assert l2a["assets"]["thumbnail"]["title"] == "Thumbnail (FRE_B4, FRE_B3, FRE_B2)"
    assert Path(l2a["assets"]["thumbnail"]["href"]).parent == Path(l2a["assets"]["MTD_ALL"]["href"]).parent
    with Image.open(l2a["assets"]["thumbnail"]["href"]) as image:
        assert image.mode == "RGBA" and image.size == (PIXELS, PIXELS)
    (snow,) = annotate_outputs(*products["lis-snow"])
    assert snow["assets"]["thumbnail"]["title"] == "Thumbnail (FSC-TOC)"
    (water,) = annotate_outputs(*products["surfwater-water"])
    assert water["assets"]["thumbnail"]["title"] == "Thumbnail (WATER)"
    passes = annotate_outputs(*products["s1tiling"])
    assert {item["assets"]["thumbnail"]["title"] for item in passes} == {"Thumbnail (vv)"}  # as the collection
    names = {Path(item["assets"]["thumbnail"]["href"]).name for item in passes}
    assert names == {f"{item['id']}_thumbnail.png" for item in passes}  # passes share a folder: one file each
    with Image.open(passes[0]["assets"]["thumbnail"]["href"]) as image:
        assert image.mode == "LA"


def test_a_thumbnail_the_chain_wrote_is_kept(tmp_path: Path) -> None:
    output_dir, (item,) = outputs(tmp_path)["surfwater-water"]
    own = {**item["assets"]["quicklook"], "roles": ["thumbnail"]}
    (annotated,) = annotate_outputs(output_dir, [{**item, "assets": {**item["assets"], "thumbnail": own}}])
    assert annotated["assets"]["thumbnail"]["href"] == own["href"]
    assert not list(output_dir.rglob("*_thumbnail.png"))


def test_a_large_raster_is_pictured_from_an_overview(tmp_path: Path) -> None:
    assert overview_level(10980, 10980, [2, 4, 8, 16, 32, 64], 256) == 4  # 343 px, the smallest above 256
    assert overview_level(10980, 10980, [], 256) is None and overview_level(200, 100, [2], 256) is None
    rows = np.indices((2048, 1024))[0]
    cog = write_cog(tmp_path / "large.tif", (rows % 1000).astype(np.int16), TILE, nodata=-1)
    with Image.open(write_thumbnail([cog], tmp_path / "large.png")) as image:
        assert image.size == (128, 256) and image.mode == "LA"
        grey = np.asarray(image)[..., 0]
    assert grey[0, 0] < grey[-1, 0]  # stretched: dark at the top, bright at the bottom


@pytest.mark.parametrize("side", [64, 1])
def test_thumbnails_of_small_rasters_are_not_enlarged(tmp_path: Path, side: int) -> None:
    cog = write_cog(tmp_path / "small.tif", np.full((side, side), 7, dtype=np.uint8), TILE)
    with Image.open(write_thumbnail([cog], tmp_path / "small.png")) as image:
        assert image.size == (side, side)
        assert np.asarray(image)[0, 0].tolist() == [128, 255]  # uniform: mid-grey, opaque


def test_a_mask_whose_classes_are_rare_shows_them_all(tmp_path: Path) -> None:
    water = np.zeros((64, 64), dtype=np.uint8)
    water[10:14, 10:14] = 1  # under 2 % of the pixels: the percentiles are both 0
    cog = write_cog(tmp_path / "water.tif", water, TILE, nodata=255)
    with Image.open(write_thumbnail([cog], tmp_path / "water.png")) as image:
        grey = np.asarray(image)[..., 0]
    assert grey[12, 12] == 255 and grey[40, 40] == 0
