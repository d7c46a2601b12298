"""The STAC API: stac-fastapi-pgstac built with the project's identity, roles and write protection."""

import logging

# stac-fastapi warns at import time about its own default titles, which create_app replaces.
logging.getLogger("stac_fastapi.types.config").setLevel(logging.ERROR)

from hygor.api.app import create_app  # noqa: E402

__all__ = ["create_app"]
