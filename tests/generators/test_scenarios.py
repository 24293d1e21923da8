"""The concurrency scenario harness on the local PostgreSQL: deadlocks, lock waits, barrier timeouts, final data."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from generators import scenarios as sc

pytestmark = pytest.mark.postgres

# Superuser only (the local postgres user is one): the default 1 s would make every deadlock test a second slower.
FAST_DEADLOCK = "SET deadlock_timeout = '200ms'"


@pytest.fixture
def accounts(fresh_db: str) -> str:
    """A scratch table of two rows (1 -> 10, 2 -> 20) in an empty database; returns its URL."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        conn.execute("INSERT INTO accounts VALUES (1, 10), (2, 20)")
    return fresh_db


def connector(url: str) -> Callable[[], Any]:
    # Not autocommit: each session's statements form one transaction, committed by the harness at the end.
    return lambda: psycopg.connect(url, connect_timeout=5)


def add(account: int, amount: int) -> sc.Step:
    return sc.execute(
        "UPDATE accounts SET balance = balance + %s WHERE id = %s",
        (amount, account),
        label=f"add {amount} to {account}",
    )


FINAL = "SELECT id, balance FROM accounts ORDER BY id"


def test_two_sessions_locking_in_opposite_orders_deadlock_and_exactly_one_is_the_victim(accounts: str) -> None:
    scenario = sc.Scenario(
        "two-session deadlock",
        sessions=[
            sc.Session("A", [sc.execute(FAST_DEADLOCK), add(1, 1), sc.barrier("both hold a row"), add(2, 1)]),
            sc.Session("B", [sc.execute(FAST_DEADLOCK), add(2, 100), sc.barrier("both hold a row"), add(1, 100)]),
        ],
        final_query=FINAL,
    )
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES, poll_interval=0.02, timeout=8)

    assert len(result.victims) == 1, result.summary()
    (victim,) = result.victims
    survivor = "B" if victim == "A" else "A"
    lost = result.session(victim)
    assert lost.error_codes == ("40P01",)
    assert isinstance(lost.exception, psycopg.errors.DeadlockDetected)
    assert lost.error == "deadlock detected" and not lost.committed
    assert lost.failed_step is not None and lost.failed_step.index == 4  # its second update, after the barrier
    assert result.committed == [survivor]
    # Only the survivor's two additions remain: the victim's first update was rolled back with it.
    expected = {"A": [(1, 11), (2, 21)], "B": [(1, 110), (2, 120)]}[survivor]
    assert list(result.final_rows) == expected
    assert result.final_columns == ("id", "balance")
    # The survivor's second update waited for the victim's row until the victim was rolled back.
    assert result.waited(survivor) == {victim}, result.summary()
    wait = next(w for w in result.lock_waits if w.waiter == survivor)
    assert wait.detail.startswith("Lock:") and wait.samples >= 2
    # Detection follows deadlock_timeout: the victim's blocked update ended well under a second later, not 1 s.
    assert 0.15 <= lost.failed_step.duration < 1.0, lost.failed_step
    summary = result.summary()
    assert f"{victim} (pid {lost.session_id}) was chosen as the deadlock victim" in summary
    assert f"{survivor} (pid {result.session(survivor).session_id}) committed" in summary
    assert f"{survivor} on {victim}" in summary


def test_a_session_waiting_for_a_lock_without_a_cycle_waits_then_both_commit(accounts: str) -> None:
    hold = 0.5
    scenario = sc.Scenario(
        "plain lock wait",
        sessions=[
            sc.Session("A", [add(1, 1), sc.barrier("A holds row 1"), sc.pause(hold)]),
            sc.Session("B", [sc.barrier("A holds row 1"), add(1, 100)]),
        ],
        final_query=FINAL,
    )
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES, poll_interval=0.02, timeout=8)

    assert result.victims == [] and result.failed == []
    assert result.committed == ["A", "B"]
    assert result.waited("B") == {"A"}
    assert result.waited("A") == set()
    # B's update could only finish after A committed, i.e. after A's pause.
    assert result.session("B").step("add 100 to 1").duration >= hold * 0.8
    assert result.final == [{"id": 1, "balance": 111}, {"id": 2, "balance": 20}]
    assert "B on A" in result.summary() and "victim" not in result.summary()


def test_a_stuck_barrier_fails_fast_naming_the_session_the_barrier_and_who_is_missing(accounts: str) -> None:
    # B blocks on A's row before the barrier, and A waits at the barrier for B: without a barrier timeout this
    # would hang until someone killed it.
    scenario = sc.Scenario(
        "waiting for a blocked session",
        sessions=[
            sc.Session("A", [add(1, 1), sc.barrier("after B's update")]),
            sc.Session("B", [sc.pause(0.1), add(1, 100), sc.barrier("after B's update")]),
        ],
        final_query=FINAL,
    )
    started = time.perf_counter()
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES, barrier_timeout=0.5, timeout=8)
    elapsed = time.perf_counter() - started

    a, b = result.session("A"), result.session("B")
    assert a.error_type == "BarrierTimeout" and not a.committed
    assert a.error is not None
    assert "session 'A' waited 0.5 s at barrier \"after B's update\"" in a.error
    assert "B (running step 2 'add 100 to 1')" in a.error
    # A rolled back, which released B's row; B then found the barrier broken, and said so.
    assert b.error_type == "BarrierBroken" and b.error is not None
    assert "after it broke: session 'A' gave up after 0.5 s" in b.error
    assert result.waited("B") == {"A"}
    assert list(result.final_rows) == [(1, 10), (2, 20)]  # nobody committed
    assert elapsed < 3, f"the stuck scenario took {elapsed:.1f} s"


def test_past_the_scenario_timeout_statements_are_cancelled_and_pauses_interrupted(accounts: str) -> None:
    scenario = sc.Scenario(
        "runaway",
        sessions=[
            sc.Session("A", [add(1, 1), sc.barrier("started"), sc.execute("SELECT pg_sleep(30)")]),
            sc.Session("B", [sc.barrier("started"), sc.pause(30)]),
        ],
        final_query=FINAL,
    )
    started = time.perf_counter()
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES, timeout=1.0)
    elapsed = time.perf_counter() - started

    assert elapsed < 4, f"cancelling took {elapsed:.1f} s"
    a, b = result.session("A"), result.session("B")
    assert a.cancelled and not a.committed
    assert a.error_codes == ("57014",), a  # query_canceled: pg_cancel_backend reached the running statement
    assert b.cancelled and b.error_type == "ScenarioAborted"
    assert "A (pid" in result.summary() and "was cancelled at step 3" in result.summary()
    assert list(result.final_rows) == [(1, 10), (2, 20)]  # A's update was rolled back


def test_the_final_query_sees_what_the_sessions_committed_and_call_steps_return_values(accounts: str) -> None:
    def balance_of_2(conn: Any) -> int:
        row = conn.execute("SELECT balance FROM accounts WHERE id = 2").fetchone()
        return int(row[0])

    scenario = sc.Scenario(
        "final data",
        sessions=[
            sc.Session("writer", [add(2, 5), sc.barrier("written"), sc.barrier("read")]),
            sc.Session("reader", [sc.barrier("written"), sc.call(balance_of_2, label="read 2"), sc.barrier("read")]),
            sc.Session("undone", [add(1, 1000)], commit=False),
        ],
        final_query="SELECT id, balance FROM accounts WHERE balance > %s ORDER BY id",
        final_params=(0,),
    )
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES)

    # READ COMMITTED: the reader cannot see the writer's update, which commits only after the reader has read.
    assert result.session("reader").step("read 2").value == 20
    assert result.committed == ["writer", "reader"]
    assert result.failed == []  # "undone" ended without an error and was rolled back, as asked
    undone = result.session("undone")
    assert f"undone (pid {undone.session_id}) finished after 1 step without committing" in result.summary()
    assert result.final == [{"id": 1, "balance": 10}, {"id": 2, "balance": 25}]
    assert "final data: 2 row(s)" in result.summary()


def test_step_result_sets_are_kept_per_session(accounts: str) -> None:
    scenario = sc.Scenario(
        "result sets",
        sessions=[
            sc.Session("A", [sc.execute("UPDATE accounts SET balance = balance * 2 WHERE id = 1 RETURNING balance")]),
            sc.Session("B", [sc.execute("SELECT id, balance FROM accounts ORDER BY id")]),
        ],
    )
    result = sc.run_scenario(scenario, connector(accounts), sc.POSTGRES, monitor=False)

    assert result.session("A").last_row() == {"balance": 20}
    (rows,) = result.session("B").result_sets
    assert rows.columns == ("id", "balance") and rows.rows[-1] == (2, 20)
    assert result.final_rows == () and result.lock_waits == ()


@pytest.mark.parametrize(
    ("sessions", "message"),
    [
        pytest.param(
            [sc.Session("A", []), sc.Session("A", [])], "session names must be unique, repeated: ['A']", id="dup"
        ),
        pytest.param(
            [sc.Session("A", [sc.barrier("x")]), sc.Session("B", [sc.barrier("y"), sc.barrier("x")])],
            "barrier(s) ['y'] used by one session only",
            id="lonely-barrier",
        ),
        pytest.param(
            [sc.Session("A", [sc.barrier("x"), sc.barrier("x")]), sc.Session("B", [sc.barrier("x")])],
            "session 'A' uses barrier 'x' twice",
            id="barrier-twice",
        ),
    ],
)
def test_a_malformed_scenario_is_refused_before_any_connection(sessions: list[sc.Session], message: str) -> None:
    def no_connection() -> Any:
        raise AssertionError("connected although the scenario is malformed")

    with pytest.raises(sc.ScenarioError, match=re.escape(message)):
        sc.run_scenario(sc.Scenario("bad", sessions), no_connection, sc.POSTGRES)


def test_sql_server_errors_wrapped_by_a_procedure_still_count_as_deadlock_victims() -> None:
    # pytds raises OperationalError(message) with .number; the project's procedures re-raise 1205 as their own
    # number with "(error 1205, severity 13, state N)" in the text (sql/crm/050_functions.sql).
    class FakeTdsError(Exception):
        def __init__(self, message: str, number: int) -> None:
            super().__init__(message, None)
            self.number = number

    wrapped = FakeTdsError(
        "CRMSP_TransferSaleAmountUnsafe failed: Transaction (Process ID 61) was deadlocked on lock resources with"
        " another process and has been chosen as the deadlock victim. Rerun the transaction."
        " (error 1205, severity 13, state 51)",
        56900,
    )
    assert sc.SQLSERVER.error_codes(wrapped) == ("56900", "1205")
    assert sc.SQLSERVER.is_deadlock_victim(wrapped)
    assert sc.SQLSERVER.is_deadlock_victim(FakeTdsError("Transaction (Process ID 5) was deadlocked ...", 1205))
    declined = FakeTdsError("Payment declined for sale 9 of client 3 (5000.00 USD); the sale is rolled back.", 56304)
    assert sc.SQLSERVER.error_codes(declined) == ("56304",)
    assert not sc.SQLSERVER.is_deadlock_victim(declined)
