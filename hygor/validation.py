"""Offline validation of STAC documents and of the project's own documents against JSON Schemas.

The official STAC core and extension schemas ship with the package (``stac_schemas/``, one file per published
URL), so validation never touches the network.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from hygor.settings import PROJECT_ROOT

SCHEMA_ROOT = resources.files("hygor").joinpath("stac_schemas")
PROJECT_SCHEMAS = PROJECT_ROOT / "schemas"
CORE_SCHEMA = "https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"


class SchemaNotShipped(LookupError):
    """A document refers to a schema that is not shipped with the package."""


def _mirror_path(url: str) -> Traversable:
    address = url.split("#", 1)[0].split("://", 1)[-1]
    if address.startswith("json-schema.org/draft-07/schema"):
        address = "json-schema.org/draft-07/schema"
    return SCHEMA_ROOT.joinpath(*address.split("/"))


def _retrieve(url: str) -> Resource[Any]:
    path = _mirror_path(url)
    if not path.is_file():
        raise NoSuchResource(ref=url)  # type: ignore[call-arg]
    return Resource.from_contents(json.loads(path.read_text()))


@cache
def _registry() -> Registry[Any]:
    return Registry(retrieve=_retrieve)  # type: ignore[call-arg]


@cache
def _validator(url: str) -> Draft7Validator:
    path = _mirror_path(url)
    if not path.is_file():
        raise SchemaNotShipped(f"schema {url} is not shipped with hygor")
    schema = json.loads(path.read_text())
    cls = validator_for(schema, default=Draft7Validator)
    return cls(schema, registry=_registry())


def stac_errors(document: dict[str, Any]) -> list[str]:
    """Problems of a STAC item or collection against its core schema and each declared extension."""
    kind = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}.get(document.get("type", ""))
    if kind is None:
        return [f"type must be Feature, Collection or Catalog, not {document.get('type')!r}"]
    urls = [CORE_SCHEMA.format(version=document.get("stac_version", "?"), kind=kind)]
    urls += list(document.get("stac_extensions", []))
    problems = []
    for url in urls:
        try:
            error = best_match(_validator(url).iter_errors(document))
        except SchemaNotShipped as exc:
            problems.append(str(exc))
            continue
        if error is not None:
            problems.append(f"{describe(error)} (schema {url})")
    return problems


def document_errors(document: Any, schema_file: Path) -> list[str]:
    """Problems of a project document (chain, request, catalogue settings) against ``schemas/``."""
    schema = json.loads(schema_file.read_text())
    cls = validator_for(schema, default=Draft7Validator)
    validator = cls(schema, registry=_registry())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [describe(error) for error in errors]


def describe(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"
