"""``Production``: the production workshop's Python API, over a ``hygor.Catalog``; the CLI and notebooks use it."""

from __future__ import annotations

from pathlib import Path

from hygor import Catalog
from hymotep import store
from hymotep.requests import load_request_file, produced_chains
from hymotep.store import StoredRequest


class Production:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()

    def add_request(self, path: Path, *, replace: bool = False) -> StoredRequest:
        """Validate a request file, resolve its zone to tiles and store it; nothing is stored on any fault."""
        request = load_request_file(path, produced_chains(self.catalog.settings.collections_dir))
        with self.catalog.database().connect() as conn:
            return store.add_request(conn, request, replace=replace)

    def requests(self) -> list[StoredRequest]:
        with self.catalog.database().connect() as conn:
            return store.list_requests(conn)

    def request(self, name: str) -> StoredRequest:
        with self.catalog.database().connect() as conn:
            return store.get_request(conn, name)

    def remove_request(self, name: str) -> None:
        with self.catalog.database().connect() as conn:
            store.remove_request(conn, name)
