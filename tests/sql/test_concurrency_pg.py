"""PromptSales concurrency scenarios on the real PostgreSQL: the anomaly in the unsafe version, not in the fixed one."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from generators import concurrency_pg as cp

pytestmark = pytest.mark.postgres

D = Decimal


def allocated(outcome: cp.Outcome) -> dict[str, Decimal]:
    return {outcome.budget_names[int(r["budget_id"])]: r["allocated_usd"] for r in outcome.result.final}


def spent(outcome: cp.Outcome) -> dict[str, Decimal]:
    return {outcome.budget_names[int(r["budget_id"])]: r["spent_usd"] for r in outcome.result.final}


def test_cascading_deadlock_unsafe_c_closes_the_ring_and_is_the_only_victim(sales_db: str) -> None:
    outcome = cp.cascading_deadlock(sales_db, "unsafe")
    result = outcome.result

    assert outcome.proved and outcome.anomaly, outcome.report()
    # C has the short deadlock_timeout, so it is the session that finds the cycle and is rolled back.
    assert result.victims == ["C"]
    assert result.session("C").error_codes == ("40P01",)
    assert isinstance(result.session("C").exception, psycopg.errors.DeadlockDetected)
    assert result.committed == ["A", "B"]
    # The ring, as the monitor saw it: A waited for B, B for C, C for A.
    assert result.waited("A") == {"B"} and result.waited("B") == {"C"} and result.waited("C") == {"A"}
    # A (X->Y) and B (Y->Z) committed, C (Z->X) was undone.
    assert allocated(outcome) == {"X": D("990.00"), "Y": D("1000.00"), "Z": D("1010.00")}
    assert "victim C (40P01), A, B committed" in outcome.numbers


def test_cascading_deadlock_fixed_lock_order_queues_the_three_and_all_commit(sales_db: str) -> None:
    outcome = cp.cascading_deadlock(sales_db, "fixed")
    result = outcome.result

    assert outcome.proved and not outcome.anomaly, outcome.report()
    assert result.victims == [] and result.failed == []
    assert result.committed == ["A", "B", "C"]
    # A line, not a ring: C queued behind A (holding nothing), A behind B; nobody waited for C.
    assert result.waited("C") == {"A"} and result.waited("A") == {"B"} and result.waited("B") == set()
    assert allocated(outcome) == {"X": D("1000.00"), "Y": D("1000.00"), "Z": D("1000.00")}


def test_lost_update_unsafe_read_modify_write_loses_the_first_increment(sales_db: str) -> None:
    outcome = cp.lost_update(sales_db, "unsafe")
    result = outcome.result

    assert outcome.proved and outcome.anomaly, outcome.report()
    # Both read 100.00 before either wrote; B's write waited for A's lock, then overwrote A's 130.00.
    assert result.session("A").step("read spent").value == D("100.00")
    assert result.session("B").step("read spent").value == D("100.00")
    assert result.committed == ["A", "B"] and result.waited("B") == {"A"}
    assert spent(outcome)["X"] == D("150.00")  # not 180.00: A's 30.00 is lost
    assert "30.00 lost" in outcome.numbers


@pytest.mark.parametrize("variant", ["for_update", "atomic"])
def test_lost_update_fixed_keeps_both_increments(sales_db: str, variant: str) -> None:
    outcome = cp.lost_update(sales_db, variant)
    result = outcome.result

    assert outcome.proved and not outcome.anomaly, outcome.report()
    assert result.committed == ["A", "B"] and result.waited("B") == {"A"}
    assert spent(outcome) == {"X": D("180.00"), "Y": D("100.00"), "Z": D("100.00")}
    if variant == "for_update":
        # B's locking read waited for A's commit and saw A's result, not the stale 100.00.
        assert result.session("B").step("read spent FOR UPDATE").value == D("130.00")


def report_values(outcome: cp.Outcome) -> tuple[Decimal, Decimal, Decimal]:
    report = outcome.result.session("report")
    return tuple(report.step(label).result_sets[0].rows[0][0] for label in ("read X", "read Y", "read X again"))  # type: ignore[return-value]


def test_incorrect_summary_read_committed_adds_up_a_total_no_committed_state_had(sales_db: str) -> None:
    outcome = cp.incorrect_summary(sales_db, "unsafe")

    assert outcome.proved and outcome.anomaly, outcome.report()
    x, y, x_again = report_values(outcome)
    assert (x, y) == (D("1000.00"), D("1100.00")) and x + y == D("2100.00")  # the true total is 2000.00
    assert x_again == D("900.00")  # and a non-repeatable read of X
    assert allocated(outcome) == {"X": D("900.00"), "Y": D("1100.00"), "Z": D("1000.00")}


def test_incorrect_summary_repeatable_read_sees_one_snapshot(sales_db: str) -> None:
    outcome = cp.incorrect_summary(sales_db, "fixed")

    assert outcome.proved and not outcome.anomaly, outcome.report()
    assert report_values(outcome) == (D("1000.00"), D("1000.00"), D("1000.00"))
    # The transfer committed all the same: the snapshot did not block it.
    assert outcome.result.committed == ["report", "transfer"] and outcome.result.lock_waits == ()
    assert allocated(outcome) == {"X": D("900.00"), "Y": D("1100.00"), "Z": D("1000.00")}


@pytest.mark.parametrize(("variant", "level"), [("unsafe", "read uncommitted"), ("fixed", "read committed")])
def test_dirty_read_is_impossible_even_at_read_uncommitted(sales_db: str, variant: str, level: str) -> None:
    outcome = cp.dirty_read(sales_db, variant)
    result = outcome.result

    assert outcome.proved and not outcome.anomaly, outcome.report()
    writer, reader = result.session("writer"), result.session("reader")
    assert writer.steps[0].result_sets[0].rows[0][0] == D("5100.00")  # the uncommitted write existed
    assert reader.step("isolation level").result_sets[0].rows[0][0] == level  # the level was accepted as asked
    assert reader.step("read spent").result_sets[0].rows[0][0] == D("100.00")  # but only committed data was seen
    assert result.lock_waits == ()  # and the reader did not wait for the writer
    assert spent(outcome)["X"] == D("100.00") and result.committed == ["reader"]


def test_every_scenario_removes_its_rows(sales_db: str) -> None:
    with psycopg.connect(sales_db) as conn:
        before = conn.execute("SELECT count(*) FROM portal.budgets").fetchone()
        cp.lost_update(sales_db, "atomic")
        after = conn.execute("SELECT count(*) FROM portal.budgets").fetchone()
        companies = conn.execute(
            "SELECT count(*) FROM portal.companies WHERE brand_name LIKE 'concurrency-demo-%'"
        ).fetchone()
    assert before == after and companies == (0,)


def test_the_cli_runs_every_scenario_in_a_scratch_database_and_reports_each_verdict(pg_admin: str) -> None:
    lines: list[str] = []
    with psycopg.connect(pg_admin) as conn:
        databases = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'ps_scenarios_%'").fetchone()
    assert cp.main([], out=lines.append) == 0
    text = "\n".join(lines)
    assert text.count("verdict: anomaly shown (as expected)") == 3
    assert text.count("verdict: anomaly prevented (as expected)") == 6
    assert "scenarios: 9 of 9 proved their point" in text
    assert "C waited for A" in text and "DEADLOCK VICTIM (40P01" in text
    with psycopg.connect(pg_admin) as conn:
        after = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'ps_scenarios_%'").fetchone()
    assert after == databases  # the scratch database was dropped
