"""The searches portals send most, answered without pgSTAC's ``search()``: same items, order, content, links and
paging tokens, a fraction of the work.

pgSTAC's ``search()`` builds its query, counts, hydrates and assembles the JSON in plpgsql for every request;
under concurrency that is where the time goes. Here a search in pgSTAC's default order (datetime, collection,
id, descending) without ``fields`` or ``sortby`` takes pgSTAC's own WHERE clause for it
(``stac_search_to_where``, cached per process: paging and polling repeat the same search), reads one page of
rows' keys and versions with a keyset on (datetime, collection, id) that uses the partitions' datetime indexes,
counts through pgSTAC's ``where_stats`` (exact, or the planner's estimate beyond the context thresholds, as
``search()``), and sends the items this process has already sent at those versions from memory; the others are
read and hydrated in Python with each base item fetched once per process (``content_hydrate``'s merge). Paging
tokens are pgSTAC's (``next:<hex collection>:<hex id>``), so either path continues the other's pages. Anything
else (other sorts, ``fields``, ``limit`` 0, a token that is not pgSTAC's or names no item, an error) returns
None: the caller falls back to pgSTAC's ``search()``, which answers or raises as it always did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request
from stac_fastapi.pgstac.models.links import INFERRED_LINK_RELS, ItemLinks, PagingLinks
from stac_fastapi.types.requests import get_base_url

from hygor.api.caches import TtlCache
from hygor.hydration import hydrated, stripped
from hygor.sql import named_queries

SQL = named_queries("hygor.sql", "search.sql")
# Parts of a search that do not change its WHERE clause.
NOT_WHERE = ("token", "limit", "conf", "fields", "sortby")
BASE_ITEM_TAG = re.compile(r"\s*[0-9]{1,9}\s*")  # what content_hydrate reads as a tag
UNREADABLE_TAG = -1  # names no base item: hydrated against the collection's current one, as content_hydrate
TOKEN = re.compile(r"(next|prev):((?:[0-9a-f]{2})+):((?:[0-9a-f]{2})+)")
WHERE_TTL_S = 60.0  # a change of queryables reaches the WHERE clauses within this
BASE_ITEM_TTL_S = 60.0  # base items are immutable per (collection, tag); this bounds a deleted, recreated one
FEATURE_CACHE_BYTES = 64 << 20  # per worker process: some 2,300 MAJA L2A items, 12,000 L1C
FEATURE_TTL_S = 3600.0

WHERES: TtlCache[str, str] = TtlCache(1024, WHERE_TTL_S)
BASE_ITEMS: TtlCache[tuple[str, int | None], dict[str, Any]] = TtlCache(256, BASE_ITEM_TTL_S)
# The items last sent, as JSON, by (the API's base URL, collection, id, row version): a page re-reads only its rows'
# keys and versions (xmin, which every write of a row changes), and the content of those not found here. Hydrating
# and encoding a 28 KB MAJA L2A item is most of a page's processor time; portals page through the same tiles.
FEATURES: TtlCache[tuple[str, str, str, str], bytes] = TtlCache(FEATURE_CACHE_BYTES, FEATURE_TTL_S, weigh=len)


@dataclass(frozen=True)
class Token:
    """A pgSTAC paging token: the item a page continues from, and the direction."""

    prev: bool
    collection: str
    item_id: str

    @classmethod
    def parse(cls, token: str) -> Token | None:
        match = TOKEN.fullmatch(token.lower())
        if match is None:
            return None
        try:
            return cls(match[1] == "prev", bytes.fromhex(match[2]).decode(), bytes.fromhex(match[3]).decode())
        except UnicodeDecodeError:
            return None


def page_token(collection: str, item_id: str) -> str:
    """pgSTAC's ``page_token``: each side the hex of its UTF-8 bytes."""
    return f"{collection.encode().hex()}:{item_id.encode().hex()}"


def search_document(search: Any) -> dict[str, Any] | None:
    """The search as pgSTAC reads it, or None when it is not one for the fast path."""
    document: dict[str, Any] = orjson.loads(search.model_dump_json(exclude_none=True, by_alias=True))
    fields = document.get("fields") or {}
    if document.get("sortby") or fields.get("include") or fields.get("exclude") or document.get("conf"):
        return None
    if document.get("limit", 10) < 1:
        return None
    return document


async def fast_search(search: Any, request: Request) -> dict[str, Any] | None:
    """The page pgSTAC's ``search()`` would give for ``search``, as stac-fastapi-pgstac's ``_search_base`` returns
    it; None when this path does not answer it."""
    document = search_document(search)
    if document is None:
        return None
    token = Token.parse(document["token"]) if "token" in document else None
    if "token" in document and token is None:
        return None
    key = orjson.dumps({k: v for k, v in document.items() if k not in NOT_WHERE}, option=orjson.OPT_SORT_KEYS)
    limit = int(document.get("limit", 10))
    async with request.app.state.get_connection(request, "r") as conn:
        where = WHERES.get(key.decode())
        if where is None:
            try:
                where = await conn.fetchval(SQL["search_where"], key.decode())
            except Exception:  # pgSTAC's search() raises it again, in its own words
                return None
            WHERES.put(key.decode(), where)
        if token is None:
            rows = await conn.fetch(page_query(where, "first_page", "DESC"), limit + 1)
        else:
            at: datetime | None = await conn.fetchval(SQL["token_datetime"], token.collection, token.item_id)
            if at is None:
                return None
            keyset, direction = ("before_token", "ASC") if token.prev else ("after_token", "DESC")
            rows = await conn.fetch(
                page_query(where, keyset, direction), limit + 1, at, token.collection, token.item_id
            )
        matched = await conn.fetchval(SQL["search_count"], where)
        more = len(rows) > limit
        rows = rows[:limit]
        if token is not None and token.prev:
            rows.reverse()
        features = await page_features(conn, rows, FeatureLinks(request))
    has_next = more if token is None or not token.prev else True
    has_prev = token is not None and (more if token.prev else True)
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    page: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "links": await PagingLinks(
            request=request,
            next=page_token(last["collection"], last["id"]) if has_next and last else None,
            prev=page_token(first["collection"], first["id"]) if has_prev and first else None,
        ).get_links(),
        "numberReturned": len(features),
    }
    if matched is not None:
        page["numberMatched"] = matched
    return page


async def page_features(conn: Any, rows: list[Any], links: FeatureLinks) -> list[orjson.Fragment]:
    """The items of a page's rows as JSON: from memory for the rows unchanged since they were last sent (same
    version), the others read, hydrated and kept. An item deleted between the two reads is left out."""
    sent = {
        (row["collection"], row["id"]): FEATURES.get((links.base_url, row["collection"], row["id"], row["version"]))
        for row in rows
    }
    missing = [key for key, body in sent.items() if body is None]
    if missing:
        collections, ids = zip(*missing, strict=True)
        for row in await conn.fetch(SQL["page_items"], collections, ids):
            feature = hydrated(row, await base_item(conn, row))
            feature["links"] = links.of(feature)
            body = orjson.dumps(feature, option=orjson.OPT_NON_STR_KEYS)
            FEATURES.put((links.base_url, row["collection"], row["id"], row["version"]), body)
            sent[(row["collection"], row["id"])] = body
    return [orjson.Fragment(body) for body in sent.values() if body is not None]


class FeatureLinks:
    """The links stac-fastapi-pgstac gives each item (``ItemLinks.get_links``: collection, parent, root, self,
    then the item's own links resolved against the API, less those it infers), the ones shared by a
    collection's items built once per page."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.base_url = str(get_base_url(request))
        self._makers: dict[str, tuple[ItemLinks, list[dict[str, Any]]]] = {}

    def of(self, feature: dict[str, Any]) -> list[dict[str, Any]]:
        collection = feature["collection"]
        if collection not in self._makers:
            maker = ItemLinks(collection_id=collection, item_id="", request=self._request)
            self._makers[collection] = (maker, [maker.link_collection(), maker.link_parent(), maker.link_root()])
        maker, shared = self._makers[collection]
        maker.item_id = feature["id"]
        own = [
            {**link, "href": maker.resolve(link["href"])}
            for link in feature.get("links") or []
            if link["rel"] not in INFERRED_LINK_RELS
        ]
        return [*shared, maker.link_self(), *own]


def page_query(where: str, keyset: str, direction: str) -> str:
    return SQL["page"].format(where=where, keyset=SQL[keyset], direction=direction)


async def base_item(conn: Any, row: Any) -> dict[str, Any]:
    """The base item ``row`` was dehydrated against (its ``pgstac:base_item`` tag, or the collection's first)."""
    tag = row["content"].get("pgstac:base_item")
    number = None if tag is None else int(tag) if BASE_ITEM_TAG.fullmatch(str(tag)) else UNREADABLE_TAG
    key = (row["collection"], number)
    cached = BASE_ITEMS.get(key)
    if cached is None:
        cached = stripped(await conn.fetchval(SQL["base_item"], *key) or {})
        BASE_ITEMS.put(key, cached)
    return cached
