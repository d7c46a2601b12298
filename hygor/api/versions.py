"""The default view of searches: superseded products (``deprecated: true``, see ``hygor.lifecycle``) left out.

A search without ``ids`` gets ``deprecated`` excluded, ANDed to its own filter; one that names ``deprecated``
(a portal asking for old versions) or asks for ``ids`` (lineage links, ``GET /collections/{c}/items/{id}``)
reaches them. Withdrawn products need no filter: they are not in pgSTAC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

DEPRECATED = "deprecated"
NAMES = (DEPRECATED, f"properties.{DEPRECATED}")
# Items that do not say `deprecated`, or say false.
CURRENT = {
    "op": "or",
    "args": [
        {"op": "isNull", "args": [{"property": DEPRECATED}]},
        {"op": "=", "args": [{"property": DEPRECATED}, False]},
    ],
}

QueryToCql2 = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def names_deprecated(expression: Any) -> bool:
    """Whether a CQL2 JSON expression names the ``deprecated`` property."""
    stack = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("property") in NAMES:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


async def current_versions_only(search: Any, query_to_cql2: QueryToCql2) -> None:
    """Restrict ``search`` (a pgSTAC search request) to current versions, unless it asks otherwise. pgSTAC takes
    `query` or `filter`, not both: a `query` becomes CQL2 (``query_to_cql2``, pgSTAC's own translation) first."""
    own_filter = getattr(search, "filter_expr", None)
    query = getattr(search, "query", None)
    if search.ids or names_deprecated(own_filter) or any(name in (query or {}) for name in NAMES):
        return
    if query and not own_filter:
        own_filter = await query_to_cql2(query)
        search.query = None
    search.filter_expr = {"op": "and", "args": [own_filter, CURRENT]} if own_filter else CURRENT
    search.filter_lang = "cql2-json"
