"""Reprocessing campaigns: a produced collection made again with a new chain version over a zone and a period.

A new version in ``chain.yaml`` makes every older product ``outdated``, but only the units an active campaign
covers are planned (at its priority; ``hymotep/sql/gaps.sql``): reprocessing is decided, not a side effect of an
edit. Products made from an input a campaign replaced (a water map of a reprocessed L2A) become outdated too and
are replayed for that campaign. A campaign file (``hymotep/schemas/campaign.schema.json``) writes its zone,
period and priority as a production request does, and they are checked and resolved to tiles the same way.
Pausing a campaign keeps its queued jobs from being claimed and plans none; removing it drops its queued jobs.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition
from hymotep.errors import HymotepError
from hymotep.requests import DEFAULT_PRIORITY, RequestError, Zone, load_document, parse_period, parse_zone, read_file
from hymotep.sql import campaign_query
from hymotep.store import zone_tiles

CAMPAIGN_SCHEMA = "campaign.schema.json"
CAMPAIGN_SHAPE = "a campaign must be a YAML mapping (name, collection, chain_version, zone, period)"
CampaignState = Literal["active", "paused"]
Connection = psycopg.Connection[dict[str, Any]]


class CampaignError(HymotepError):
    """A campaign file or operation is invalid."""


class Campaign(BaseModel):
    """One campaign file, validated."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str | None = None
    collection: str
    chain_version: str
    zone: Zone
    start: date
    end: date | None = None
    priority: int = DEFAULT_PRIORITY
    notes: str | None = None


class StoredCampaign(BaseModel):
    name: str
    title: str | None
    collection: str
    chain_version: str
    zone: dict[str, Any]
    start: date
    end: date | None
    priority: int
    state: CampaignState
    notes: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    tiles: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredCampaign:
        return cls(**{**row, "start": row["start_date"], "end": row["end_date"]})


class CampaignProgress(BaseModel):
    """A campaign's jobs by state: its replays and the products made from what they replaced. ``waiting``: its
    outdated units not planned yet (from the gaps; None when not counted)."""

    campaign: str
    collection: str
    chain_version: str
    state: CampaignState
    priority: int
    queued: int
    running: int
    succeeded: int
    failed: int
    waiting: int | None = None

    @property
    def units(self) -> int:
        return self.queued + self.running + self.succeeded + self.failed + (self.waiting or 0)


class CampaignReport(BaseModel):
    """A campaign and its progress (``hesp campaign show``)."""

    campaign: StoredCampaign
    progress: CampaignProgress


def load_campaign_file(path: Path, chains: dict[str, ChainDefinition]) -> Campaign:
    """Read and check one campaign file against the installed chains; ``CampaignError`` "<file>: <fault>"."""
    source = str(path)
    try:
        document = load_document(read_file(path), source=source, schema=CAMPAIGN_SCHEMA, shape=CAMPAIGN_SHAPE)
        start, end, problems = parse_period(document["period"])
        problems = _chain_problems(document["collection"], document["chain_version"], chains) + problems
        if problems:
            raise CampaignError(f"{source}: {'; '.join(problems)}")
        zone = parse_zone(document["zone"], source=source, base_dir=path.parent)
    except RequestError as exc:
        raise CampaignError(str(exc)) from None
    return Campaign(
        name=document["name"],
        title=document.get("title"),
        collection=document["collection"],
        chain_version=document["chain_version"],
        zone=zone,
        start=start,
        end=end,
        priority=document.get("priority", DEFAULT_PRIORITY),
        notes=document.get("notes"),
    )


def _chain_problems(collection: str, version: str, chains: dict[str, ChainDefinition]) -> list[str]:
    """A campaign replays with the installed chain: its version must be chain.yaml's."""
    if collection not in chains:
        return [f"collection: {collection} is not a produced collection (known: {', '.join(sorted(chains))})"]
    installed = chains[collection].version
    if version != installed:
        return [
            f"chain_version: {collection}'s chain.yaml is at version {installed}, not {version}: install that "
            "version of the chain first (a campaign replays with the installed chain)"
        ]
    return []


def add_campaign(conn: Connection, campaign: Campaign, *, by: str) -> StoredCampaign:
    """Store ``campaign`` and its tiles in one transaction; an existing name is refused."""
    tiles = zone_tiles(conn, campaign.zone)
    if not tiles:
        raise CampaignError(f"{campaign.name}: its zone ({campaign.zone.describe()}) covers no tile of the grid")
    row = {
        **campaign.model_dump(exclude={"zone"}),
        "zone": Jsonb(campaign.zone.model_dump(mode="json")),
        "by": by,
    }
    with conn.transaction(), translate_errors():
        try:
            conn.execute(campaign_query("insert_campaign"), row)
        except psycopg.errors.UniqueViolation:
            raise CampaignError(f"a campaign named {campaign.name!r} exists already") from None
        conn.execute(campaign_query("insert_campaign_tiles"), {"name": campaign.name, "tiles": tiles})
    return get_campaign(conn, campaign.name)


def list_campaigns(conn: Connection) -> list[StoredCampaign]:
    with translate_errors():
        return [StoredCampaign.from_row(r) for r in conn.execute(campaign_query("list_campaigns"), {"name": None})]


def get_campaign(conn: Connection, name: str) -> StoredCampaign:
    with translate_errors():
        row = conn.execute(campaign_query("list_campaigns"), {"name": name}).fetchone()
    if row is None:
        raise CampaignError(f"no campaign named {name!r}")
    return StoredCampaign.from_row(row)


def campaign_tiles(conn: Connection, name: str) -> list[str]:
    with translate_errors():
        return [row["tile"] for row in conn.execute(campaign_query("campaign_tiles"), {"name": name})]


def set_state(conn: Connection, name: str, state: CampaignState, *, by: str) -> StoredCampaign:
    """Pause or resume a campaign."""
    with translate_errors():
        if conn.execute(campaign_query("set_state"), {"name": name, "state": state, "by": by}).fetchone() is None:
            raise CampaignError(f"no campaign named {name!r}")
    return get_campaign(conn, name)


def remove_campaign(conn: Connection, name: str) -> int:
    """Remove a campaign and its queued jobs (not the running ones); the number of jobs removed."""
    with translate_errors():
        row = conn.execute(campaign_query("remove_campaign"), {"name": name}).fetchone()
    if row is None or row["campaigns"] == 0:
        raise CampaignError(f"no campaign named {name!r}")
    return int(row["jobs"])


def progress(conn: Connection, name: str | None = None) -> list[CampaignProgress]:
    """Each campaign's (or ``name``'s) jobs by state, by priority."""
    with translate_errors():
        return [CampaignProgress(**row) for row in conn.execute(campaign_query("progress"), {"name": name})]
