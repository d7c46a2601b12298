"""Readers of the auxiliary inputs, on products written here to their published layouts: MAJA's REFDE2 DEM and
EXO_CAMS (Earth Explorer headers as StartMaja writes them), 1-degree DEM tiles (SRTM, Copernicus DEM) and CAMS
netCDF as ECMWF delivers it (MARS netCDF 3, the ADS's netCDF 4 with valid_time, forecasts); then a set of
1-degree DEM tiles serving a Sentinel-2 tile's static DEM input in gaps and job inputs, on a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import rasterio
from gap_scenario import at, item, l2a
from rasterio.transform import from_origin
from shapely.geometry import shape

from hygor import Catalog, Settings
from hygor.db import Database
from hygor.grid import tile as grid_tile
from hygor.ingest import find_products
from hygor.loader import ItemLoader
from hygor.readers import ReaderError, detect, reader, readers
from hygor.settings import default_collections_dir
from hygor.validation import item_errors
from hymotep.chains import load_chains
from hymotep.job_inputs import resolve_inputs
from hymotep.production import Production
from hymotep.queue import Job
from hymotep.work_units import GapFilter

TILE = "31TCJ"  # Toulouse: lon 0.50 to 1.89, lat 43.24 to 44.25

# The header StartMaja's MNTBase._create_hdr writes (prepare_mnt/mnt/MNTBase.py, CNES/MAJA).
REFDE2_HEADER = """<?xml version='1.0' encoding='UTF-8'?>
<Earth_Explorer_Header xmlns="http://eop-cfi.esa.int/CFI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  schema_version="1.00" xsi:schemaLocation="http://eop-cfi.esa.int/CFI ./AUX_REFDE2_ReferenceDemDataLevel2.xsd"
  xsi:type="REFDE2_Header_Type">
 <Fixed_Header><File_Name>{name}</File_Name><File_Description>ReferenceDemDataLevel2</File_Description>
  <Notes>Created using Start_Maja</Notes><Mission>SENTINEL-2_</Mission><File_Class>TEST</File_Class>
  <File_Type>{file_type}</File_Type><Validity_Period><Validity_Start>UTC=1970-01-01T00:00:00</Validity_Start>
  <Validity_Stop>UTC=2100-01-01T00:00:00</Validity_Stop></Validity_Period><File_Version>0001</File_Version>
  <Source><System>MAJA</System><Creator>Start_Maja</Creator><Creator_Version>1.0</Creator_Version>
  <Creation_Date>UTC=2024-03-05T14:02:11</Creation_Date></Source></Fixed_Header>
 <Variable_Header><Main_Product_Header><List_of_Consumers count="0"/><List_of_Extensions count="0"/>
  </Main_Product_Header><Specific_Product_Header>
  <Instance_Id><Applicable_Site_Nick_Name>T{tile}</Applicable_Site_Nick_Name><File_Version>0001</File_Version>
  </Instance_Id><List_of_Applicable_SiteDefinition_Ids count="1">
  <Applicable_SiteDefinition_Id sn="1">S2__TEST_MPL_SITDEF_S_T{tile}</Applicable_SiteDefinition_Id>
  </List_of_Applicable_SiteDefinition_Ids>
  <DEM_Information><Cartographic><Coordinate_Reference_System><Code>{crs}</Code>
  <Short_Description>WGS 84 / UTM zone 31N</Short_Description></Coordinate_Reference_System>
  <Upper_Left_Corner><X unit="m">300000.0</X><Y unit="m">4900020.0</Y></Upper_Left_Corner>
  <Sampling_Interval><By_Line unit="m">10.0</By_Line><By_Column unit="m">-10.0</By_Column></Sampling_Interval>
  <Size><Lines>10980</Lines><Columns>10980</Columns></Size></Cartographic>
  <Mean_Altitude_Over_L2_Coverage unit="m">412.5</Mean_Altitude_Over_L2_Coverage>
  <Altitude_Standard_Deviation_Over_L2_Coverage unit="m">160.2</Altitude_Standard_Deviation_Over_L2_Coverage>
  <Nodata_Value>-10000</Nodata_Value><L2_To_DEM_Subsampling_Ratio>1</L2_To_DEM_Subsampling_Ratio>
  <Comment>No comment</Comment></DEM_Information>
  <DBL_Organization><List_of_Packaged_DBL_Files count="{count}">{files}</List_of_Packaged_DBL_Files>
  </DBL_Organization></Specific_Product_Header></Variable_Header>
</Earth_Explorer_Header>
"""
# The header of cams_download/convert_to_exo.py (RawCAMSArchive._update_nodes), 137 model levels abridged.
EXO_CAMS_HEADER = """<?xml version='1.0' encoding='UTF-8'?>
<Earth_Explorer_Header xmlns="http://eop-cfi.esa.int/CFI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  schema_version="1.00" xsi:schemaLocation="http://eop-cfi.esa.int/CFI ./EXO_CAMS_CamsData.xsd"
  xsi:type="CAMS_Header_Type">
 <Fixed_Header><File_Name>{name}</File_Name><File_Description>CAMSData</File_Description>
  <Notes>137 Model levels</Notes><Mission>SENTINEL-2_</Mission><File_Class>TEST</File_Class>
  <File_Type>EXO_CAMS</File_Type><Validity_Period><Validity_Start>UTC=2024-01-15T03:00:00</Validity_Start>
  <Validity_Stop>UTC=2100-01-01T00:00:00</Validity_Stop></Validity_Period><File_Version>0003</File_Version>
  <Source><System>MAJA</System><Creator>Start_Maja</Creator><Creator_Version>1.14</Creator_Version>
  <Creation_Date>UTC=2024-01-16T08:00:00</Creation_Date></Source></Fixed_Header>
 <Variable_Header><Main_Product_Header><List_of_Consumers count="0"/><List_of_Extensions count="0"/>
  </Main_Product_Header><Specific_Product_Header><Instance_Id><Validity_Period>
  <Validity_Start>UTC=2024-01-15T03:00:00</Validity_Start><Validity_Stop>UTC=2100-01-01T00:00:00</Validity_Stop>
  </Validity_Period><Acquisition_Date_Time>UTC=2024-01-15T03:00:00</Acquisition_Date_Time></Instance_Id>
  <Data_Block_Source_Location>https://www.ecmwf.int</Data_Block_Source_Location>
  <DBL_Organization><List_of_Packaged_DBL_Files count="{count}">{files}</List_of_Packaged_DBL_Files>
  </DBL_Organization><ModelLevels>0.02 0.031 0.0457 1013.25</ModelLevels>
  <NumberOfNonInterpolableValues>20</NumberOfNonInterpolableValues></Specific_Product_Header></Variable_Header>
</Earth_Explorer_Header>
"""
REFDE2_FILES = ["ALT_R1", "ALT_R2", "ASP_R1", "ASP_R2", "SLP_R1", "SLP_R2", "ALC", "ASC", "SLC", "MSK"]


def earth_explorer(
    folder: Path, name: str, template: str, files: list[str], definition: str = "", **fields: str
) -> Path:
    """A header listing ``files`` of its ``.DBL.DIR`` (made empty: metadata comes before rasters), as
    StartMaja lists them: relative to the header."""
    data = folder / f"{name}.DBL.DIR"
    data.mkdir(parents=True)
    listed = "".join(
        f'<Packaged_DBL_File sn="{n}"><Relative_File_Path>{name}.DBL.DIR/{file}</Relative_File_Path>'
        + (f"<File_Definition>{definition}</File_Definition>" if definition else "")
        + "</Packaged_DBL_File>"
        for n, file in enumerate(files, start=1)
    )
    for file in files:
        (data / file).touch()
    header = folder / f"{name}.HDR"
    header.write_text(template.format(name=name, count=len(files), files=listed, **fields))
    return header


def refde2(folder: Path, tile: str = TILE, *, file_type: str = "AUX_REFDE2", crs: str = "EPSG:32631") -> Path:
    name = f"S2__TEST_AUX_REFDE2_T{tile}_0001"
    files = [f"{name}_{kind}.TIF" for kind in REFDE2_FILES]
    return earth_explorer(folder, name, REFDE2_HEADER, files, tile=tile, file_type=file_type, crs=crs)


def test_maja_dem_item_from_its_header(tmp_path: Path) -> None:
    header = refde2(tmp_path)
    (item,) = reader("maja-dem").read(header)
    assert item_errors(item) == []
    assert item["id"] == "S2__TEST_AUX_REFDE2_T31TCJ_0001" and item["collection"] == "dem-tiles"
    properties = item["properties"]
    assert properties["grid:code"] == "MGRS-31TCJ" and properties["proj:code"] == "EPSG:32631"
    assert properties["processing:software"] == {"Start_Maja": "1.0"}
    assert properties["processing:datetime"] == "2024-03-05T14:02:11Z"
    assert (properties["start_datetime"], properties["end_datetime"]) == (
        "1970-01-01T00:00:00Z",
        "2100-01-01T00:00:00Z",
    )
    assert sorted(item["assets"]) == sorted([*REFDE2_FILES, "HDR"])
    assert item["assets"]["ALT_R1"]["proj:shape"] == [10980, 10980]
    assert item["assets"]["ALT_R1"]["proj:transform"] == [10.0, 0.0, 300000.0, 0.0, -10.0, 4900020.0]
    assert item["assets"]["ALT_R2"]["gsd"] == 20 and "proj:shape" not in item["assets"]["ALT_R2"]
    footprint, tile = shape(item["geometry"]), grid_tile(TILE).footprint()
    assert footprint.symmetric_difference(tile).area < 1e-3 * tile.area  # the grid of the header is the tile's


def test_maja_auxiliary_products_are_found_by_their_headers(tmp_path: Path) -> None:
    """In a folder of products side by side (as MAJA's DEM folder is), each header is one product and its data
    folder is not taken apart."""
    refde2(tmp_path, "31TCJ")
    refde2(tmp_path, "31TDJ")
    found = list(find_products([tmp_path], recursive=True))
    assert all(isinstance(f, tuple) for f in found) and {f[1].name for f in found} == {"maja-dem"}  # type: ignore[index]
    items = [i for path, found_reader in found for i in found_reader.read(path)]  # type: ignore[misc]
    assert sorted(i["id"] for i in items) == ["S2__TEST_AUX_REFDE2_T31TCJ_0001", "S2__TEST_AUX_REFDE2_T31TDJ_0001"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"file_type": "AUX_REFDE3"}, "File_Type is AUX_REFDE3, not AUX_REFDE2"),
        ({"crs": "EPSG:32630"}, "the DEM's CRS EPSG:32630 is not EPSG:32631 of tile 31TCJ"),
        ({"tile": "99ZZZ"}, "99ZZZ"),
    ],
)
def test_maja_dem_errors_name_the_fault(tmp_path: Path, change: dict[str, str], message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        reader("maja-dem").read(refde2(tmp_path, **change))


def test_maja_cams_item_from_its_header(tmp_path: Path) -> None:
    files = [f"CAMS_{kind}_20240115UTC030000.nc" for kind in ("AOT", "RH", "MR")]
    name = "S2__OPER_EXO_CAMS_20240115T030000_21000101T000000"
    header = earth_explorer(tmp_path, name, EXO_CAMS_HEADER, files, definition="cams")
    assert detect(header) is reader("maja-cams") and detect(header.with_suffix(".DBL.DIR")) is reader("maja-cams")
    (item,) = reader("maja-cams").read(header)
    assert item_errors(item) == []
    assert item["id"] == "S2__OPER_EXO_CAMS_20240115T030000_21000101T000000"
    assert item["properties"]["datetime"] == "2024-01-15T03:00:00Z"
    assert item["properties"]["processing:software"] == {"Start_Maja": "1.14"}
    assert sorted(item["assets"]) == ["AOT", "HDR", "MR", "RH"]
    assert item["assets"]["AOT"]["type"] == "application/x-netcdf"
    assert item["bbox"] == [-180, -90, 180, 90] and "grid:code" not in item["properties"]
    assert detect(tmp_path / f"{item['id']}.DBL.DIR" / files[0]) is None  # read through the header only


# ECMWF netCDF


def cams_netcdf(path: Path, times: dict[str, Any], *, lon: Any, lat: Any, classic: bool = True) -> Path:
    """Aerosol optical depths as ECMWF writes them: MARS's netCDF 3 (packed shorts, ``time`` in hours since
    1900) or the ADS's netCDF 4 (floats, ``valid_time`` in seconds since 1970, or forecast axes)."""
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET" if classic else "NETCDF4") as ds:
        ds.Conventions = "CF-1.6"
        ds.institution = "European Centre for Medium-Range Weather Forecasts"
        for name, values, units in (("longitude", lon, "degrees_east"), ("latitude", lat, "degrees_north")):
            ds.createDimension(name, len(values))
            variable = ds.createVariable(name, "f4", (name,))
            variable.units = units
            variable[:] = values
        for name, (values, units) in times.items():
            ds.createDimension(name, len(values))
            variable = ds.createVariable(name, "i4" if classic else "i8", (name,))
            variable.units = units
            variable[:] = values
        dims = (*times, "latitude", "longitude")
        for name, title in (
            ("aod550", "Total Aerosol Optical Depth at 550nm"),
            ("duaod550", "Dust Aerosol Optical Depth at 550nm"),
        ):
            variable = ds.createVariable(name, "i2" if classic else "f4", dims)
            if classic:
                variable.scale_factor, variable.add_offset = 1e-4, 3.0
            variable.units, variable.long_name = "~", title
            variable[:] = np.full([len(v) for v, _ in times.values()] + [len(lat), len(lon)], 0.12)
    return path


def test_cams_netcdf_of_mars_one_item_per_time_global(tmp_path: Path) -> None:
    lon, lat = np.arange(0, 360, 1.25), np.arange(90, -90.01, -1.25)  # grid 1.25/1.25, area G
    hours = {"time": ([1087296, 1087308], "hours since 1900-01-01 00:00:00.0")}  # 2024-01-15 00:00 and 12:00
    path = cams_netcdf(tmp_path / "cams_aod_20240115.nc", hours, lon=lon, lat=lat)
    assert detect(path) is reader("cams-netcdf")
    items = reader("cams-netcdf").read(path)
    assert [i["id"] for i in items] == ["cams_aod_20240115_20240115T000000", "cams_aod_20240115_20240115T120000"]
    assert [i["properties"]["datetime"] for i in items] == ["2024-01-15T00:00:00Z", "2024-01-15T12:00:00Z"]
    assert all(item_errors(i) == [] for i in items)
    assert items[0]["bbox"] == [-180, -90, 180, 90] and shape(items[0]["geometry"]).area == 360 * 180
    bands = items[0]["assets"]["AOT"]["bands"]
    assert bands == [
        {"name": "aod550", "description": "Total Aerosol Optical Depth at 550nm"},
        {"name": "duaod550", "description": "Dust Aerosol Optical Depth at 550nm"},
    ]


def test_cams_netcdf_of_the_ads_across_the_antimeridian(tmp_path: Path) -> None:
    """A region across 180° (MARS area 10/170/0/190): split in two, never wrapping round the globe."""
    times = {"valid_time": ([1705287600], "seconds since 1970-01-01")}  # 2024-01-15 03:00
    path = cams_netcdf(
        tmp_path / "ads.nc", times, lon=np.arange(170, 190.1, 0.4), lat=np.arange(10, -0.1, -0.4), classic=False
    )
    (item,) = reader("cams-netcdf").read(path)
    assert item_errors(item) == [] and item["properties"]["datetime"] == "2024-01-15T03:00:00Z"
    footprint = shape(item["geometry"])
    assert footprint.geom_type == "MultiPolygon" and footprint.area == pytest.approx(20.4 * 10.4)
    assert item["bbox"] == pytest.approx([169.8, -0.2, -169.8, 10.2])


def test_cams_netcdf_forecasts_valid_times(tmp_path: Path) -> None:
    times = {
        "forecast_reference_time": ([1705276800, 1705320000], "seconds since 1970-01-01"),  # 00:00 and 12:00
        "forecast_period": ([0, 3], "hours"),
    }
    path = cams_netcdf(
        tmp_path / "fc.nc", times, lon=np.arange(-180, 180, 3.0), lat=np.arange(90, -91, -3.0), classic=False
    )
    stamps = [i["properties"]["datetime"][11:16] for i in reader("cams-netcdf").read(path)]
    assert stamps == ["00:00", "03:00", "12:00", "15:00"]


def test_cams_netcdf_detection_is_for_aerosol_fields_outside_maja_products(tmp_path: Path) -> None:
    humidity = tmp_path / "rh.nc"
    with netCDF4.Dataset(humidity, "w") as ds:
        for name in ("latitude", "longitude"):
            ds.createDimension(name, 3)
        ds.createVariable("r", "f4", ("latitude", "longitude"))[:] = np.zeros((3, 3))
    assert detect(humidity) is None
    inside = tmp_path / "X_EXO_CAMS_Y.DBL.DIR"
    inside.mkdir()
    hours = {"time": ([0], "hours since 1900-01-01")}
    assert detect(cams_netcdf(inside / "CAMS_AOT_20240115UTC030000.nc", hours, lon=[0.0, 1.0], lat=[1.0, 0.0])) is None


# 1-degree DEM tiles


def dem_cell(folder: Path, lat: int, lon: int, *, pixels: int = 12) -> Path:
    """A Copernicus DEM GLO-30 tile as distributed (COG, float32, named by its south-west corner), small."""
    code = f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}_00_{'E' if lon >= 0 else 'W'}{abs(lon):03d}_00"
    path = folder / f"Copernicus_DSM_COG_10_{code}_DEM.tif"
    profile = {"driver": "GTiff", "width": pixels, "height": pixels, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    with rasterio.open(path, "w", transform=from_origin(lon, lat + 1, 1 / pixels, 1 / pixels), **profile) as out:
        out.write(np.full((1, pixels, pixels), 250.0, dtype=np.float32))
    return path


def test_dem_tiles_of_srtm_and_copernicus(tmp_path: Path) -> None:
    copernicus = reader("dem-geotiff").read(dem_cell(tmp_path, 43, 1))[0]
    assert copernicus["id"] == "Copernicus_DSM_COG_10_N43_00_E001_00_DEM" and item_errors(copernicus) == []
    assert copernicus["bbox"] == [1, 43, 2, 44] and "grid:code" not in copernicus["properties"]
    assert copernicus["assets"]["elevation"]["bands"] == [{"data_type": "float32", "unit": "m"}]
    srtm = tmp_path / "N43E001.hgt"  # SRTMGL3: 1201 x 1201 big-endian int16, no header
    srtm.write_bytes(np.full(1201 * 1201, 180, dtype=">i2").tobytes())
    assert detect(srtm) is reader("dem-geotiff")
    (item,) = reader("dem-geotiff").read(srtm)
    assert item["id"] == "SRTM_N43E001" and item_errors(item) == []
    assert item["properties"]["datetime"] == "2000-02-11T00:00:00Z" and item["properties"]["proj:code"] == "EPSG:4326"
    assert item["bbox"] == pytest.approx([1, 43, 2, 44], abs=1e-3)  # pixel centres on the degree lines
    misnamed = dem_cell(tmp_path, 44, 1).rename(tmp_path / "N43E001.tif")
    with pytest.raises(ReaderError, match="not those of its cell N43E001"):
        reader("dem-geotiff").read(misnamed)


def test_one_degree_dem_tiles_serve_the_tiles_they_meet(db_url: str, tmp_path: Path) -> None:
    """31TCJ has no DEM of its own: the Copernicus cells meeting it make its static DEM input present (LIS is
    runnable, not blocked) and are its job's DEM inputs; a cell elsewhere is not. Once the tile's own REFDE2 is
    catalogued, it alone is the input."""
    request = tmp_path / "r.yaml"
    request.write_text(
        "name: snow\nrequester: {name: T}\nzone: {tiles: [31TCJ]}\nchains: [lis-snow]\nperiod: {start: 2023-01-01}\n"
    )
    production = Production(Catalog(Settings(database_url=db_url)))
    production.add_request(request)

    def load(items: list[dict[str, Any]]) -> None:
        with ItemLoader(Database(db_url)) as loader:
            loader.load(items)

    load([item("sentinel-2-l1c", TILE, at("01-03")), l2a(TILE, "01-03")])

    def state() -> tuple[str, str | None]:
        (row,) = production.gaps(GapFilter(collections=["lis-snow"]))
        return row["state"], row["reason"]

    assert state() == ("blocked", "no dem-tiles for the tile")
    cells = [dem_cell(tmp_path, lat, lon) for lat in (43, 44) for lon in (0, 1)] + [dem_cell(tmp_path, 10, 10)]
    load([reader("dem-geotiff").read(cell)[0] for cell in cells])
    assert state() == ("runnable", None)

    chain = load_chains(default_collections_dir())["lis-snow"]

    def dem_inputs() -> list[str]:
        with production.catalog.database().connect() as conn:
            slot = conn.execute("SELECT hesp.acquisition_slot(%s, %s) AS slot", (TILE, at("01-03"))).fetchone()
            job = Job(1, "lis-snow", "1.7.0", TILE, slot["slot"], None, 0, 0, 3)  # type: ignore[index]
            inputs = resolve_inputs(conn, job, chain)
        return [i.id for i in inputs.auxiliary if i.collection == "dem-tiles"]

    assert dem_inputs() == sorted(
        f"Copernicus_DSM_COG_10_N{lat}_00_E00{lon}_00_DEM" for lat in (43, 44) for lon in (0, 1)
    )
    load(reader("maja-dem").read(refde2(tmp_path / "refde2")))
    assert dem_inputs() == ["S2__TEST_AUX_REFDE2_T31TCJ_0001"]


def test_the_readers_are_registered() -> None:
    assert {"maja-dem", "maja-cams", "dem-geotiff", "cams-netcdf"} <= set(readers())
