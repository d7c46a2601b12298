"""Build the STAC API application from the catalogue's settings.

stac-fastapi-pgstac does the work; this module gives it the project's identity, one connection pool per
pgSTAC role (reads as ``pgstac_read``, writes as ``pgstac_ingest``) and enables transactions only behind a
bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attr
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from stac_fastapi.extensions import BulkTransactionExtension, TransactionExtension
from stac_fastapi.extensions.sort.sort import (
    ItemCollectionSortExtension,
    SearchSortExtension,
    SortConformanceClasses,
)
from stac_fastapi.pgstac.app import instantiate_api
from stac_fastapi.pgstac.config import Settings as StacSettings
from stac_fastapi.pgstac.core import CoreCrudClient
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
from stac_fastapi.types.stac import Collection, Collections
from starlette.middleware import Middleware

from hygor import __version__
from hygor.api.auth import BearerTokenWrites
from hygor.api.collections_cache import CollectionsCache
from hygor.api.compression import compress_around
from hygor.api.conditional import ConditionalGets
from hygor.api.errors import install_error_handlers
from hygor.api.fast_search import fast_search
from hygor.api.html import HtmlPages
from hygor.api.limits import RequestLimits
from hygor.api.pools import read_pool, write_pool
from hygor.api.responses import JSON, answer, checked_filter
from hygor.api.versions import current_versions_only
from hygor.db import Database
from hygor.validation import item_errors

TITLE = "Hespérides"
LANDING_ID = "hesperides"
DESCRIPTION = (
    "Catalogue of the Hespérides production centre for THEIA land-surface data: Sentinel-2 surface "
    "reflectance (MAJA), snow cover (LIS), water surfaces (Surfwater), Sentinel-1 backscatter on the "
    "Sentinel-2 grid (S1Tiling), their syntheses, and the inputs they are made from."
)
# pystac-client 0.9 recognises only STAC API v1.0.x conformance URIs: sort is also declared in its v1.0.0
# spelling (the same `sortby` parameter), so that clients sort without a "does not conform" warning.
SEARCH_SORT = [SortConformanceClasses.ITEM_SEARCH_SORT, "https://api.stacspec.org/v1.0.0/item-search#sort"]
FEATURES_SORT = [SortConformanceClasses.FEATURES_SORT, "https://api.stacspec.org/v1.0.0/ogcapi-features#sort"]


LINK_TITLES = {
    "self": "This collection",
    "root": TITLE,
    "parent": TITLE,
    "items": "Items of this collection",
    "queryables": "Properties to filter this collection's items on",
    "http://www.opengis.net/def/rel/ogc/1.0/queryables": "Properties to filter this collection's items on",
}


@attr.s
class HespCoreClient(CoreCrudClient):  # type: ignore[misc]
    """stac-fastapi-pgstac's client with the project's landing page and titled collection links."""

    landing_page_id: str = attr.ib(default=LANDING_ID)
    title: str = attr.ib(default=TITLE)
    description: str = attr.ib(default=DESCRIPTION)

    async def get_collection(self, collection_id: str, request: Request, **kwargs: Any) -> Collection:
        return title_links(await super().get_collection(collection_id, request, **kwargs))

    async def all_collections(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        """The collections (the plain list is kept in memory by ``hygor.api.collections_cache``)."""
        collections: Collections = await super().all_collections(request, *args, **kwargs)
        for collection in collections.get("collections", []):
            title_links(collection)
        return answer(collections, JSON)

    async def get_search(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return answer(await super().get_search(request, *args, **kwargs))

    async def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> Any:
        return answer(await super().post_search(search_request, request, **kwargs))

    async def item_collection(self, collection_id: str, request: Request, *args: Any, **kwargs: Any) -> Any:
        return answer(await super().item_collection(collection_id, request, *args, **kwargs))

    async def get_item(self, item_id: str, collection_id: str, request: Request, **kwargs: Any) -> Any:
        return answer(await super().get_item(item_id, collection_id, request, **kwargs))

    def _clean_search_args(
        self, base_args: dict[str, Any], filter_query: str | None = None, filter_lang: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """stac-fastapi-pgstac's, with each filter checked once per process (``hygor.api.responses``)."""
        if filter_query:
            base_args["filter"], base_args["filter_lang"] = checked_filter(filter_query, filter_lang)
        cleaned: dict[str, Any] = super()._clean_search_args(base_args, **kwargs)
        return cleaned

    async def _search_base(self, search_request: Any, request: Request) -> Any:
        """Every search (``/search``, ``/collections/{c}/items``, an item by id): superseded versions left out of
        the default view (``hygor.api.versions``); the common ones answered by ``hygor.api.fast_search``."""

        async def query_to_cql2(query: dict[str, Any]) -> dict[str, Any]:
            async with request.app.state.get_connection(request, "r") as conn:
                converted: dict[str, Any] = await conn.fetchval(
                    "SELECT pgstac.query_to_cql2($1::text::jsonb)",
                    orjson.dumps(query, option=orjson.OPT_NON_STR_KEYS).decode(),
                )
                return converted

        await current_versions_only(search_request, query_to_cql2)
        page = await fast_search(search_request, request)
        if page is not None:
            return page
        return await super()._search_base(search_request, request)


class CheckedItems:
    """Items written through the API pass the checks ``hesp ingest`` makes (STAC schemas, ids, geometries,
    dates, grid codes: ``hygor.validation.item_errors``), so that no write path stores what ingest refuses."""

    def _validate_item(
        self, request: Request, item: Any, collection_id: str, expected_item_id: str | None = None
    ) -> None:
        super()._validate_item(request, item, collection_id, expected_item_id)  # type: ignore[misc]
        errors = item_errors({**item, "collection": collection_id})
        if errors:
            raise HTTPException(status_code=400, detail=f"invalid item {item.get('id')!r}: {errors[0]}")


@attr.s
class HespTransactions(CheckedItems, TransactionsClient):  # type: ignore[misc]
    pass


@attr.s
class HespBulkTransactions(CheckedItems, BulkTransactionsClient):  # type: ignore[misc]
    pass


class HespExtensions(Extensions):  # type: ignore[misc]
    """stac-fastapi-pgstac's extensions, with transactions that check items as ingest does."""

    @property
    def transaction(self) -> list[Any]:
        if not self.settings.enable_transactions_extensions:
            return []
        return [
            TransactionExtension(client=HespTransactions(), settings=self.settings, response_class=JSONResponse),
            BulkTransactionExtension(client=HespBulkTransactions()),
        ]


def title_links(collection: Collection) -> Collection:
    """Give the links the API adds the titles STAC best practices ask for."""
    for link in collection.get("links", []):
        if "title" not in link and link.get("rel") in LINK_TITLES:
            link["title"] = LINK_TITLES[link["rel"]]
    return collection


def create_app(database: Database, api_token: str | None = None, pool: int = 8) -> FastAPI:
    """The STAC API over ``database``, reading through at most ``pool`` connections (``hygor.api.pools``); with
    ``api_token`` it also accepts authorised writes."""
    settings = StacSettings(
        stac_fastapi_title=TITLE,
        stac_fastapi_description=DESCRIPTION,
        stac_fastapi_landing_id=LANDING_ID,
        stac_fastapi_version=__version__,
        enable_transactions_extensions=api_token is not None,
        enabled_extensions=None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(
            app,
            postgres_settings=read_pool(database, pool),
            add_write_connection_pool=api_token is not None,
            write_postgres_settings=write_pool(database),
        )
        yield
        await close_db_connection(app)

    extensions = HespExtensions(
        settings=settings,
        search_map={"sort": SearchSortExtension(conformance_classes=SEARCH_SORT)},
        item_collection_map={"sort": ItemCollectionSortExtension(conformance_classes=FEATURES_SORT)},
    )
    api = instantiate_api(client=HespCoreClient, extensions=extensions, lifespan=lifespan, settings=settings)
    install_error_handlers(api.app)
    compress_around(api.app, Middleware(ConditionalGets))
    api.app.add_middleware(HtmlPages)  # item pages for browsers, from the JSON
    api.app.add_middleware(RequestLimits)
    if api_token is not None:
        api.app.add_middleware(BearerTokenWrites, token=api_token)
    api.app.add_middleware(CollectionsCache)  # outermost: a kept answer skips everything else
    app: FastAPI = api.app
    return app
