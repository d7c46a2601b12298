"""Offline validation of STAC documents and of the project's own documents against JSON Schemas.

The official STAC core and extension schemas ship with the package (``stac_schemas/``, one file per published
URL), so validation never touches the network. Validators are compiled once per schema (jsonschema-rs): an
item costs microseconds, which keeps validation out of the way of bulk ingest.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jsonschema_rs

from hygor.caching import shared_cache

SCHEMA_ROOT = resources.files("hygor").joinpath("stac_schemas")
CORE_SCHEMA = "https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"
KINDS = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}
PROJECT_SCHEMAS = "https://hesperides.theia-land.fr/schemas/"  # the $id prefix of the project's own schemas


class SchemaNotShipped(LookupError):
    """A document refers to a schema that is not shipped with the package."""


def _mirror_path(url: str) -> Traversable:
    address = url.split("#", 1)[0].split("://", 1)[-1]
    if address.startswith("json-schema.org/draft-07/schema"):
        address = "json-schema.org/draft-07/schema"
    return SCHEMA_ROOT.joinpath(*address.split("/"))


def _retrieve(url: str) -> Any:
    path = _mirror_path(url)
    if not path.is_file():
        raise SchemaNotShipped(f"schema {url} is not shipped with hygor")
    return json.loads(path.read_text())


@shared_cache
def _validator(url: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(_retrieve(url), retriever=_retrieve)


def schema_urls(document: dict[str, Any]) -> list[str]:
    kind = KINDS.get(document.get("type", ""))
    if kind is None:
        return []
    return [
        CORE_SCHEMA.format(version=document.get("stac_version", "?"), kind=kind),
        *document.get("stac_extensions", []),
    ]


def stac_errors(document: dict[str, Any], *, unknown_extensions: bool = False) -> list[str]:
    """Problems of a STAC item or collection against its core schema and each declared extension.

    An extension whose schema is not shipped is a problem, unless ``unknown_extensions`` allows it (items
    harvested from other catalogues may use extensions we cannot check offline; the core schema still applies).
    """
    if document.get("type") not in KINDS:
        return [f"type must be Feature, Collection or Catalog, not {document.get('type')!r}"]
    problems = []
    for url in schema_urls(document):
        try:
            validator = _validator(url)
        except (SchemaNotShipped, jsonschema_rs.ReferencingError) as exc:
            if not (unknown_extensions and url.startswith("https://stac-extensions.github.io/")):
                problems.append(str(exc).splitlines()[0])
            continue
        error = next(iter(validator.iter_errors(document)), None)
        if error is not None:
            problems.append(f"{describe(error)} (schema {url})")
    return problems


def item_errors(item: dict[str, Any]) -> list[str]:
    """Problems of an item as the STAC API will serve it (with its ``collection`` link), of its hesp fields, and
    against the rules the schemas cannot express (``item_rules``: ids, geometries, dates, NUL, grid codes)."""
    from hygor.item_rules import item_rule_problems  # shapely and the grid: for items, not settings or chains

    rules = item_rule_problems(item)
    if rules:
        return rules
    served = item
    if item.get("collection") and not any(link.get("rel") == "collection" for link in item.get("links", [])):
        served = {**item, "links": [*item.get("links", []), {"rel": "collection", "href": "../collection.json"}]}
    hesp_errors = document_errors(item, "hygor", "hesp-properties.schema.json")
    return stac_errors(served, unknown_extensions=True) + hesp_errors


def document_errors(document: Any, package: str, schema: str) -> list[str]:
    """Problems of a project document (chain, request, catalogue settings) against ``<package>/schemas/<schema>``."""
    validator = _project_validator(package, schema)
    return [describe(error) for error in validator.iter_errors(document)]


@shared_cache
def _project_validator(package: str, schema: str) -> jsonschema_rs.Validator:
    """A project schema may refer to its siblings by their ``$id`` (a campaign's zone is a request's)."""

    def retrieve(url: str) -> Any:
        if url.startswith(PROJECT_SCHEMAS):
            return _project_schema(package, url.removeprefix(PROJECT_SCHEMAS))
        return _retrieve(url)

    return jsonschema_rs.validator_for(_project_schema(package, schema), retriever=retrieve)


def _project_schema(package: str, schema: str) -> Any:
    return json.loads(resources.files(package).joinpath("schemas", schema).read_text())


def describe(error: jsonschema_rs.ValidationError) -> str:
    where = "/".join(str(part) for part in error.instance_path) or "(top level)"
    return f"{where}: {error.message}"
