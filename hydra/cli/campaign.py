"""``hesp campaign``: reprocessing campaigns (a collection made again with a new chain version)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hydra.cli.options import By
from hydra.cli.render import FormatOption, OutputFormat, console, print_json, table
from hymotep.campaign_book import Campaigns
from hymotep.campaigns import CampaignProgress, CampaignReport, StoredCampaign
from hymotep.production import Production

app = typer.Typer(
    help="Reprocessing campaigns: which outdated products to make again, where, when, at which priority.",
    no_args_is_help=True,
)
PROGRESS_COLUMNS = ["waiting", "queued", "running", "succeeded", "failed"]


def _campaigns() -> Campaigns:
    return Production().campaigns


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A campaign file (YAML, see schemas/campaign.schema.json).")],
    by: By = None,
) -> None:
    """Validate a campaign file and store it, its zone resolved to tiles; `hesp plan` then replays its units."""
    stored = _campaigns().add(path, by=by)
    console.print(
        f"stored campaign {stored.name}: {stored.collection} {stored.chain_version} on {stored.tiles} tiles, "
        f"{_period(stored)}, priority {stored.priority}",
        markup=False,
    )


@app.command("list")
def list_(output: FormatOption = OutputFormat.TABLE) -> None:
    """The campaigns, by priority, with their jobs by state."""
    book = _campaigns()
    found = book.all()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    jobs = {p.campaign: p for p in book.progress()}
    columns = ["name", "collection", "version", "state", "priority", "period", "tiles", *PROGRESS_COLUMNS[1:]]
    rows = [
        [c.name, c.collection, c.chain_version, _state(book, c), c.priority, _period(c), c.tiles,
         *(getattr(jobs[c.name], k) for k in PROGRESS_COLUMNS[1:])]
        for c in found
    ]  # fmt: skip
    console.print(table("campaigns", columns, rows))


@app.command()
def show(name: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """One campaign, and its progress: units waiting to be planned (from the gaps), jobs by state."""
    book = _campaigns()
    found, progress = book.get(name), book.progress_with_gaps(name)
    if output is OutputFormat.JSON:
        print_json(CampaignReport(campaign=found, progress=progress))
        return
    console.print(f"{found.name}: {found.title or ''}", markup=False)
    console.print(f"{found.collection} with chain version {found.chain_version}; {_state(book, found)}", markup=False)
    zone = f"zone: {found.zone['kind']} ({found.tiles} tiles)"
    console.print(f"{zone}; period {_period(found)}; priority {found.priority}", markup=False)
    console.print(f"added {found.created_at:%Y-%m-%d %H:%M} by {found.created_by}", markup=False)
    render_progress([progress])


def render_progress(rows: list[CampaignProgress]) -> None:
    """Campaigns' units by state (waiting: counted only by `hesp campaign show`)."""
    columns = ["campaign", "state", *PROGRESS_COLUMNS, "units"]
    cells = [
        [p.campaign, p.state, "" if p.waiting is None else p.waiting, p.queued, p.running, p.succeeded, p.failed,
         p.units]
        for p in rows
    ]  # fmt: skip
    console.print(table("campaigns", columns, cells))


@app.command()
def pause(name: str, by: By = None) -> None:
    """Stop new claims of the campaign's queued jobs, and its planning (running jobs finish)."""
    _campaigns().pause(name, by=by)
    console.print(f"paused campaign {name}")


@app.command()
def resume(name: str, by: By = None) -> None:
    """Let the campaign's jobs be claimed and planned again."""
    _campaigns().resume(name, by=by)
    console.print(f"resumed campaign {name}")


@app.command()
def remove(name: str) -> None:
    """Remove the campaign and its queued jobs (running jobs finish; done ones stay)."""
    removed = _campaigns().remove(name)
    console.print(f"removed campaign {name} and {removed} queued jobs")


def _state(book: Campaigns, campaign: StoredCampaign) -> str:
    installed = book.installed_version(campaign)
    if installed != campaign.chain_version:
        return f"{campaign.state}, waiting: chain.yaml is at {installed or 'no chain'}"
    return campaign.state


def _period(campaign: StoredCampaign) -> str:
    return f"{campaign.start} to {campaign.end or '(open)'}"
