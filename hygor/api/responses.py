"""The API's large JSON answers written by orjson, and its CQL2 filters checked once per process.

Two costs stac-fastapi leaves in every search, whichever way it is answered:

- FastAPI copies a returned dict value by value through ``jsonable_encoder`` and encodes it with the standard
  library: on a page of hydrated items (50 MAJA L2A items are about 2 MB, their collection's asset descriptions
  merged into each) that is most of a request's time. A ``Response`` returned by the client skips both.
- stac-fastapi-pgstac checks a filter against the CQL2 schema (``cql2.Expr.validate``) on every request, tens
  of milliseconds; portals send the same few filters again and again, so the checked filter is kept.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from cql2 import Expr
from fastapi import HTTPException, Response
from fastapi.responses import JSONResponse

GEOJSON = "application/geo+json"
JSON = "application/json"


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def answer(content: Any, media_type: str = GEOJSON) -> Response:
    """``content`` as a response, unless it already is one (stac-fastapi's answers with ``fields``)."""
    return content if isinstance(content, Response) else OrjsonResponse(content, media_type=media_type)


def checked_filter(text: str, lang: str | None) -> tuple[dict[str, Any], str | None]:
    """A GET filter as stac-fastapi-pgstac's ``clean_search_args`` reads it: (CQL2 JSON, its language), or 400."""
    try:
        checked, lang = _checked(text, lang)
    except Exception as exc:  # cql2 raises a bare Exception on parse errors, as stac-fastapi-pgstac notes
        raise HTTPException(status_code=400, detail=f"Invalid filter: {exc}") from exc
    return orjson.loads(checked), lang


@lru_cache(maxsize=1024)
def _checked(text: str, lang: str | None) -> tuple[bytes, str | None]:
    if lang == "cql2-text":
        expr = Expr(text)
        expr.validate()
        return orjson.dumps(expr.to_json()), "cql2-json"
    Expr(orjson.loads(text)).validate()
    return text.encode(), lang
