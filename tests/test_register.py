"""``hygor.loader.register_items``, the one write path of items into pgSTAC, on a real pgSTAC: in the caller's
transaction, with digests, one item or several, with two writers racing into one partition, and
partitions widened a day at a time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from stac_items import l2a_item

from hygor.loader import DIGEST, LoadCounts, digest, register_items, registration

START = datetime(2023, 3, 1, 10, 50, tzinfo=UTC)


def items(count: int, start: datetime = START) -> list[dict[str, Any]]:
    return [l2a_item("31TCJ", start + timedelta(days=n), cloud_cover=10.0) for n in range(count)]


def stored(url: str) -> dict[str, str]:
    """The digest of every item; each item served as it was given (the digest is not in its content)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, private->>%s, pgstac.get_item(id, collection) FROM pgstac.items", (DIGEST,))
        found = {item_id: (fingerprint, item) for item_id, fingerprint, item in rows}
    assert all(digest(item) == fingerprint for fingerprint, item in found.values())
    return {item_id: fingerprint for item_id, (fingerprint, _) in found.items()}


def counts(new: int = 0, updated: int = 0, unchanged: int = 0) -> LoadCounts:
    return LoadCounts(new=new, updated=updated, unchanged=unchanged)


@pytest.mark.parametrize("count", [1, 4], ids=["one", "several"])
def test_items_are_written_in_the_callers_transaction_with_their_digests(db_url: str, count: int) -> None:
    batch = items(count)
    with psycopg.connect(db_url) as conn:
        with conn.transaction(force_rollback=True):
            assert register_items(conn, batch) == counts(new=count)
        assert stored(db_url) == {}  # rolled back with the caller's transaction
        with conn.transaction():
            assert register_items(conn, batch) == counts(new=count)
            conn.execute("SELECT 1")  # the caller's transaction goes on after the write
    assert stored(db_url) == {item["id"]: digest(item) for item in batch}
    changed = [{**batch[0], "properties": {**batch[0]["properties"], "eo:cloud_cover": 20.0}}, *batch[1:]]
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert register_items(conn, changed) == counts(updated=1, unchanged=count - 1)
        assert register_items(conn, changed) == counts(unchanged=count)
    assert stored(db_url)[batch[0]["id"]] == digest(changed[0])


def test_two_writers_racing_into_one_new_partition_both_get_their_items_in(db_url: str) -> None:
    """The first holds its transaction open over a partition it created; the second waits, trips over it and
    tries again in its savepoint, then counts the item both wrote as an update."""
    first, second = items(1), items(2, START + timedelta(days=3))
    second[1] = {**first[0], "properties": {**first[0]["properties"], "eo:cloud_cover": 30.0}}
    outcome: dict[str, LoadCounts] = {}
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url) as racer:
        with holder.transaction():
            register_items(holder, first)

            def race() -> None:
                with racer.transaction():
                    outcome["racer"] = register_items(racer, second)

            thread = threading.Thread(target=race)
            thread.start()
            thread.join(timeout=1.0)  # the racer waits for the holder's partition or item
        thread.join(timeout=30)
    assert outcome["racer"] == counts(new=1, updated=1)
    assert stored(db_url) == {item["id"]: digest(item) for item in second}


def test_a_days_batches_widen_their_partition_once(db_url: str) -> None:
    """A batch's partition is made ready for whole UTC days, and a COPY leaves its constraints as they are: the
    day's next batches alter nothing. pypgstac's loader narrowed them to the rows' dates after each COPY, so that
    every batch of newer items rebuilt them, validating the whole partition under an exclusive lock."""
    morning, noon = ([l2a_item("31TCJ", START + timedelta(minutes=n), cloud_cover=10.0) for n in minutes]
                     for minutes in (range(4), range(60, 64)))  # fmt: skip
    constraint = """SELECT c.oid, p.constraint_dtrange, p.constraint_edtrange
                    FROM pgstac.partitions_view AS p JOIN pg_constraint AS c ON c.conname = p.partition || '_dt'
                    WHERE p.collection = 'maja-l2a'"""
    with psycopg.connect(db_url) as conn:
        with registration(conn, morning):
            register_items(conn, morning)
        made, dtrange, edtrange = conn.execute(constraint).fetchone() or (None, None, None)
        day = START.replace(hour=0, minute=0)
        whole_day = (day, day + timedelta(days=1, microseconds=-1))
        assert (dtrange.lower, dtrange.upper) == (edtrange.lower, edtrange.upper) == whole_day
        with registration(conn, noon):
            register_items(conn, noon)
        assert conn.execute(constraint).fetchall() == [(made, dtrange, edtrange)]
        conn.execute("SET search_path TO pgstac, public")  # as pgSTAC's search runs
        found = conn.execute(
            "SELECT jsonb_array_length(pgstac.search(%s::jsonb)->'features')",
            ('{"collections": ["maja-l2a"], "datetime": "2023-03-01T11:30:00Z/..", "limit": 100}',),
        ).fetchone()
    assert found == (len(noon),)
