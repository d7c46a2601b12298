"""``hesp withdraw``, ``hesp restore``, ``hesp withdrawals`` and ``hesp prune``: the publication lifecycle of
products (``hygor.lifecycle``, ``hymotep.prune``)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel

from hydra.cli.options import By
from hydra.cli.render import FormatOption, OutputFormat, console, show, table
from hygor import lifecycle
from hygor.lifecycle import Withdrawal
from hymotep.production import Production
from hymotep.prune import PruneReport, prune_superseded

Ids = Annotated[list[str], typer.Argument(help="Item ids.", show_default=False)]
CollectionOption = Annotated[
    str | None, typer.Option("--collection", "-c", help="The items' collection (when an id is in several).")
]


class Events(BaseModel):
    events: list[Withdrawal]


def withdraw(
    ids: Ids,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    collection: CollectionOption = None,
    by: By = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Take products out of the STAC API (searches and GET by id); their files are kept. `hesp restore` undoes it."""
    with Production().catalog.database().connect() as conn:
        events = lifecycle.withdraw(conn, ids, reason, collection, by)
    show(Events(events=events), output, render_events)


def restore(
    ids: Ids,
    collection: CollectionOption = None,
    by: By = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Put withdrawn products back in the STAC API, as they were."""
    with Production().catalog.database().connect() as conn:
        events = lifecycle.restore(conn, ids, collection, by, reason)
    show(Events(events=events), output, render_events)


def withdrawals(
    ids: Annotated[list[str] | None, typer.Argument(help="Item ids (default: all).", show_default=False)] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """The history of withdrawals and restorations: who, when, why."""
    with Production().catalog.database().connect() as conn:
        events = lifecycle.history(conn, ids or ())
    show(Events(events=events), output, render_events)


def render_events(report: Events) -> None:
    rows = [[e.at.strftime("%Y-%m-%d %H:%M:%S"), e.action, e.collection, e.id, e.by, e.reason] for e in report.events]
    console.print(table(f"{len(rows)} events", ["at (UTC)", "action", "collection", "item", "by", "reason"], rows))


def prune(
    superseded: Annotated[bool, typer.Option("--superseded", help="Delete superseded products (required).")] = False,
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="Only those superseded more than DAYS days ago.", metavar="DAYS"),
    ] = 30,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted, and its size.")] = False,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Only these collections (repeated).")
    ] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Delete superseded products, files and items, except those a current product derives from."""
    if not superseded:
        raise typer.BadParameter("say what to prune: --superseded")
    production = Production()
    report = prune_superseded(
        production.catalog.database(), production.settings.storage_spec.open(), older_than, collection or (), dry_run
    )
    show(report, output, render_prune)


def render_prune(report: PruneReport) -> None:
    verb = "would delete" if report.dry_run else "deleted"
    rows = [[p.collection, p.id, p.successor, p.superseded_at.strftime("%Y-%m-%d"), p.bytes] for p in report.deleted]
    title = f"{verb} {len(rows)} superseded products, {report.bytes} bytes"
    console.print(table(title, ["collection", "item", "superseded by", "since", "bytes"], rows))
    if report.kept:
        kept = [[k.collection, k.id, k.needed_by] for k in report.kept]
        console.print(
            table(
                f"kept {len(kept)}: a current product derives from them",
                ["collection", "item", "derived from by"],
                kept,
            )
        )
