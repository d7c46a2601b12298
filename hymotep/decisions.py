"""Decided requests: each request is accepted (produced) or left out, with the reason, who decided and when; and
the history of every change to a request or its decision (``hesp.request_history``, hymotep 0004).

Only accepted requests are planned and run: gaps give the units that only left-out requests ask for the state
``not-accepted`` (never planned), and a request left out, removed or replaced releases, in the same transaction,
the queued jobs that no accepted request asks for any more, so that claims need not check decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition, primary_path
from hymotep.estimate import CapacityPlan
from hymotep.queue import JobScope
from hymotep.requests import RequestError
from hymotep.sql import decisions_query, queue_query
from hymotep.work_units import GapFilter

Decision = Literal["accepted", "left-out"]
Action = Literal["added", "replaced", "removed", "accepted", "left-out"]
Connection = psycopg.Connection[dict[str, Any]]


class HistoryEvent(BaseModel):
    """One change to a request: what (``action``, ``details``: the reason, the fields changed), who and when."""

    id: int
    request: str
    at: datetime
    by: str
    action: Action
    details: dict[str, Any]


def record(conn: Connection, request: str, action: Action, by: str, details: dict[str, Any] | None = None) -> None:
    """Add an event to the request's history, in ``conn``'s transaction (the one making the change)."""
    params = {"request": request, "action": action, "by": by, "details": Jsonb(details or {})}
    with translate_errors():
        conn.execute(decisions_query("record_event"), params)


def history(conn: Connection, name: str | None = None) -> list[HistoryEvent]:
    """The changes to request ``name`` (to every request when None), oldest first; removed requests included."""
    with translate_errors():
        rows = conn.execute(decisions_query("history"), {"name": name}).fetchall()
    if name is not None and not rows:
        raise RequestError(f"no history of a request named {name!r}")
    return [HistoryEvent(**row) for row in rows]


def decide(
    conn: Connection,
    name: str,
    decision: Decision,
    reason: str | None,
    by: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Record ``decision`` on request ``name`` and in its history, in ``conn``'s transaction; False (nothing
    recorded) when it was already so, for the same reason."""
    with translate_errors():
        row = conn.execute(decisions_query("decision_of"), {"name": name}).fetchone()
        if row is None:
            raise RequestError(f"no request named {name!r}")
        if (row["decision"], row["decision_reason"]) == (decision, reason):
            return False
        params = {"name": name, "decision": decision, "reason": reason, "by": by}
        conn.execute(decisions_query("decide"), params)
    record(conn, name, decision, by, {"reason": reason, "was": row["decision"], **(details or {})})
    return True


@dataclass(frozen=True)
class Asked:
    """What a request asks for: its chains on its tiles."""

    chains: tuple[str, ...]
    tiles: tuple[str, ...]


def asked(conn: Connection, name: str) -> Asked | None:
    """What request ``name`` asks for now; None when there is no such request."""
    with translate_errors():
        row = conn.execute(decisions_query("asked"), {"name": name}).fetchone()
    return None if row is None else Asked(tuple(row["chains"]), tuple(row["tiles"]))


def release_jobs(conn: Connection, chains: dict[str, ChainDefinition], before: Asked | None) -> int:
    """Delete the queued jobs of what a request asked for ``before`` it was left out, removed or replaced (its
    chains and those they need, on its tiles) that no accepted request asks for, in ``conn``'s transaction; how
    many."""
    if before is None:
        return 0
    requested = [chain for chain in before.chains if chain in chains]
    collections = sorted({c for chain in requested for c in primary_path(chains, chain)[:-1]})
    tiles = before.tiles
    with translate_errors():
        accepted = conn.execute(decisions_query("accepted_requests")).fetchone()
        params = {
            **JobScope.of(chains, GapFilter()).params(),
            "requests": accepted["names"] if accepted else [],  # none accepted: no queued job is asked for
            "dated": True,
            "dropped_tiles": list(tiles),
            "dropped_collections": collections,
        }
        # Composition of this package's own query text, never of user input.
        statement = sql.SQL(decisions_query("release_jobs")).format(in_scope=sql.SQL(queue_query("in_scope")))
        return len(conn.execute(statement, params).fetchall())


def apply_plan(conn: Connection, chains: dict[str, ChainDefinition], plan: CapacityPlan, by: str) -> list[str]:
    """Record the decision of ``plan`` on every request it weighed, in ``conn``'s transaction (the requests left out
    release their queued jobs); the requests whose decision or reason changed."""
    cpu_hours = plan.used.cpu_hours_per_year + plan.left.cpu_hours_per_year
    storage_tb = plan.used.storage_tb_per_year + plan.left.storage_tb_per_year
    source = f"capacity plan of {cpu_hours:,.0f} CPU-hours and {storage_tb:,.2f} TB from {plan.as_of}"
    details = {"plan": {"cpu_hours": cpu_hours, "storage_tb": storage_tb, "as_of": plan.as_of.isoformat()}}
    changed = [p.name for p in plan.accepted if decide(conn, p.name, "accepted", f"{source}: fits", by, details)]
    for planned in plan.left_out:
        before = asked(conn, planned.name)
        if decide(conn, planned.name, "left-out", f"{source}: {planned.reason}", by, details):
            changed.append(planned.name)
            release_jobs(conn, chains, before)
    return changed
