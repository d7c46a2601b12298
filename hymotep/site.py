"""The site file (``HESP_SITE_CONFIG`` or ``hesp run --site``): how this site's batch workers start, kept in one
YAML file rather than retyped as flags: resources, ``module load`` and venv lines, environment, network
interface and the database URL the workers use. Flags given to ``hesp run`` win over it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, cast

import yaml

from hygor.validation import document_errors
from hymotep.errors import HymotepError
from hymotep.run_request import BatchSystem, JobQueueSpec

SITE_SCHEMA = "site.schema.json"
# The site file's keys that are JobQueueSpec fields as they are.
_PLAIN = ("queue", "account", "cores", "memory", "walltime", "jobs", "python", "interface", "database_url")


class SiteError(HymotepError):
    """The site file cannot be read, or does not match its schema or the batch system asked for."""


def load_site(path: Path) -> dict[str, Any]:
    """The site file's content, checked against ``site.schema.json``."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SiteError(f"site file {path}: {exc}") from None
    problems = document_errors(document, "hymotep", SITE_SCHEMA)
    if problems:
        raise SiteError(f"site file {path}: {'; '.join(problems[:3])}")
    return cast(dict[str, Any], document)


def jobqueue_spec(system: BatchSystem, site: Path | None, **flags: Any) -> JobQueueSpec:
    """The batch workers of ``system``: the flags given (not None), else the site file's values, else defaults."""
    document: dict[str, Any] = load_site(site) if site is not None else {"scheduler": system}
    if document["scheduler"] != system:
        raise SiteError(f"site file {site} is for {document['scheduler']}, not --jobqueue {system}")
    values: dict[str, Any] = {key: document[key] for key in _PLAIN if key in document}
    values["prologue"] = tuple(document.get("prologue", ()))
    values["environment"] = tuple(document.get("environment", {}).items())
    values["job_directives"] = tuple(document.get("job_directives", ()))
    values.update({key: value for key, value in flags.items() if value is not None})
    return JobQueueSpec(system, **values)


def job_prologue(spec: JobQueueSpec) -> list[str]:
    """The shell lines a worker job runs before its worker: the site's, then its environment exported."""
    exports = [f"export {name}={shlex.quote(value)}" for name, value in spec.environment]
    return [*spec.prologue, *exports]
