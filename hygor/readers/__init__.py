"""Product readers, one module per format, registered by name (see ``base``)."""

from hygor.readers import stac_json  # noqa: F401  (each import registers its readers)
from hygor.readers.base import Reader, ReaderError, Rejection, detect, reader, readers

__all__ = ["Reader", "ReaderError", "Rejection", "detect", "reader", "readers"]
