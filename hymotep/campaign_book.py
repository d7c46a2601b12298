"""``Campaigns``: the reprocessing campaigns of a catalogue, for the CLI, the status and notebooks."""

from __future__ import annotations

import getpass
from pathlib import Path

from hygor import Catalog
from hymotep import campaigns, work_units
from hymotep.campaigns import CampaignProgress, StoredCampaign
from hymotep.chains import load_chains


class Campaigns:
    """The campaigns of ``catalog``; ``by`` (default: the OS user) is recorded with every change."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def add(self, path: Path, *, by: str | None = None) -> StoredCampaign:
        """Validate a campaign file against the installed chains, resolve its zone and store it."""
        campaign = campaigns.load_campaign_file(path, load_chains(self.catalog.settings.collections_dir))
        with self.catalog.database().connect() as conn:
            return campaigns.add_campaign(conn, campaign, by=by or getpass.getuser())

    def all(self) -> list[StoredCampaign]:
        with self.catalog.database().connect() as conn:
            return campaigns.list_campaigns(conn)

    def get(self, name: str) -> StoredCampaign:
        with self.catalog.database().connect() as conn:
            return campaigns.get_campaign(conn, name)

    def pause(self, name: str, *, by: str | None = None) -> StoredCampaign:
        with self.catalog.database().connect() as conn:
            return campaigns.set_state(conn, name, "paused", by=by or getpass.getuser())

    def resume(self, name: str, *, by: str | None = None) -> StoredCampaign:
        with self.catalog.database().connect() as conn:
            return campaigns.set_state(conn, name, "active", by=by or getpass.getuser())

    def remove(self, name: str) -> int:
        """Remove a campaign and its queued jobs; how many jobs were removed."""
        with self.catalog.database().connect() as conn:
            return campaigns.remove_campaign(conn, name)

    def installed_version(self, campaign: StoredCampaign) -> str | None:
        """The chain version installed for the campaign's collection (None: no chain any more)."""
        chain = load_chains(self.catalog.settings.collections_dir).get(campaign.collection)
        return chain.version if chain else None

    def progress(self, name: str | None = None) -> list[CampaignProgress]:
        """Each campaign's jobs by state (cheap: the status and metrics read it)."""
        with self.catalog.database().connect() as conn:
            return campaigns.progress(conn, name)

    def progress_with_gaps(self, name: str) -> CampaignProgress:
        """One campaign's jobs by state, and its outdated units not planned yet, counted in the gaps of its tiles
        and period (every collection: the products made from what it replaced count too)."""
        campaign = self.get(name)
        with self.catalog.database().connect() as conn:
            tiles = campaigns.campaign_tiles(conn, name)
            (found,) = campaigns.progress(conn, name)
        wanted = work_units.GapFilter(tiles=tiles, since=campaign.start, until=campaign.end, states=("outdated",))
        chains = load_chains(self.catalog.settings.collections_dir)
        rows = work_units.iter_gaps(self.catalog.database().connect, chains, wanted)
        waiting = sum(1 for row in rows if row["campaign"] == name)
        return found.model_copy(update={"waiting": waiting})
