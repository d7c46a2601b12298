"""Product readers, one module per format, registered by name (see ``base``)."""

# Each import registers its readers; detection tries them in this order.
import hygor.readers.cams_netcdf  # noqa: F401
import hygor.readers.dem_geotiff  # noqa: F401
import hygor.readers.maja_aux  # noqa: F401
from hygor.readers import esa_s1, esa_safe, esa_tileinfo, lis, muscate, s1tiling, stac_json, surfwater  # noqa: F401
from hygor.readers.base import Reader, ReaderError, Rejection, detect, reader, readers

__all__ = ["Reader", "ReaderError", "Rejection", "detect", "reader", "readers"]
