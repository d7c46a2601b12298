"""Jobs run in batches (``hesp run --batch``): claimed in one statement, run side by side, registered in one
transaction; a job whose registration fails fails alone, the others of its batch are registered."""

from __future__ import annotations

from pathlib import Path

import psycopg
from conftest import hesp
from run_scenario import build


def test_a_batch_whose_one_registration_fails_registers_the_others_and_discards_that_product(
    db_url: str, tmp_path: Path
) -> None:
    scenario = build(db_url, tmp_path)
    refused = "20230108"  # the second acquisition's product: pgSTAC refuses it, as a failing database would
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"""
            CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id LIKE '%\\_{refused}-%' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_one BEFORE INSERT OR UPDATE ON pgstac.items
            FOR EACH ROW EXECUTE FUNCTION public.refuse_one()""")  # fmt: skip

    result = hesp("run", "--collection", "surfwater-water", "--workers", "1", "--batch", "4", "--backoff", "0",
                  env=scenario.env, timeout=300)  # fmt: skip

    output = result.stdout + result.stderr
    assert result.returncode == 1 and "job 2 (surfwater-water 31TCJ) retried: refused by the test" in output, output
    assert scenario.states() == {"succeeded": 3, "failed": 1}
    registered = scenario.products()
    assert len(registered) == 3 and not any(refused in i for i in registered)
    stored = {p.name for p in (scenario.storage / "surfwater-water" / "31TCJ" / "2023").iterdir()}
    assert stored == set(registered)  # every attempt of the refused job removed what it stored
    with psycopg.connect(db_url) as conn:
        first = conn.execute(
            "SELECT count(*), count(DISTINCT started_at), count(*) FILTER (WHERE outcome = 'succeeded') "
            "FROM hesp.job_attempts WHERE attempt = 1"
        ).fetchone()
    assert first == (4, 1, 3)  # the four claimed in one statement; three registered at their first attempt
