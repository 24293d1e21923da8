"""Concurrency anomalies on PromptSales (PostgreSQL), each run for real in an unsafe and a fixed version.

Every scenario is built with generators.scenarios (one connection per session thread, named barriers, the
lock-wait monitor) on rows of the model's own tables: a demo company, one of its strategies and three of the
strategy's budgets (portal.budgets: allocated_usd, spent_usd), inserted before the run and deleted after it
(the audit log keeps the history of those rows, as it does for every budget).

- cascading deadlock of three: A moves 10.00 X->Y, B Y->Z, C Z->X. Unsafe: each debits first, so each holds one
  budget and waits for the next (a ring). Fixed: every transfer locks the lower budget_id first (a queue).
- lost update: two sessions add to X's spent_usd. Unsafe: read, add in the client, write back (READ COMMITTED).
  Fixed: SELECT ... FOR UPDATE before the write; or one atomic UPDATE ... SET spent_usd = spent_usd + n.
- incorrect summary: a report sums X and Y one after the other while a transfer moves 100.00 from X to Y and
  commits. Unsafe: READ COMMITTED. Fixed: REPEATABLE READ (one snapshot for the whole transaction).
- dirty read: a reader asks for READ UNCOMMITTED ("unsafe") or READ COMMITTED while a writer's change is not
  committed; PostgreSQL runs both as READ COMMITTED, so neither sees it.

Each function returns an `Outcome`: the harness result (sessions, victims, who waited for whom, final rows), the
numbers that show the anomaly or its absence, and `proved`: the unsafe run showed the anomaly and the fixed run
did not (for the dirty read: neither did, which is PostgreSQL's point).

    python -m generators.concurrency_pg [--dsn URL]

runs every scenario and prints the report; without --dsn it creates a scratch database from
PROMPTSALES_PG_ADMIN_URL, deploys the sales schema and drops the database at the end. Exit status 1 when a
scenario did not prove its point.

Ordering is by barriers; where a session must know that another one is already *waiting for its lock* before it
goes on, it polls pg_locks/pg_blocking_pids for that wait (`wait_until_blocking`) instead of sleeping.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from generators import scenarios as sc

PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FAST_DEADLOCK = "200ms"
"""deadlock_timeout of the session that should detect a cycle (superuser only; the server default is 1 s)."""
SLOW_DEADLOCK = "5s"
"""deadlock_timeout of the sessions that should not be the one to detect it: the detector becomes the victim."""
START_ALLOCATED = Decimal("1000.00")
START_SPENT = Decimal("100.00")
BUDGET_NAMES = ("X", "Y", "Z")


# --------------------------------------------------------------------------- connections and fixture rows


def connector(dsn: str) -> Callable[[], Any]:
    """A connection per call, not autocommit: each session's statements form one transaction."""
    import psycopg

    return lambda: psycopg.connect(dsn, connect_timeout=5, application_name="promptsales-scenarios")


def can_set_deadlock_timeout(dsn: str) -> bool:
    """deadlock_timeout is a superuser setting; without it every session keeps the server's value."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_setting('is_superuser')").fetchone()
    return bool(row and row[0] == "on")


@dataclass(frozen=True)
class Fixture:
    """The demo rows a scenario works on: budget name (X, Y, Z) -> budget_id."""

    company_id: int
    strategy_id: int
    budgets: dict[str, int]

    def ids(self) -> tuple[int, ...]:
        return tuple(self.budgets[n] for n in BUDGET_NAMES)

    def name_of(self, budget_id: int) -> str:
        return next(n for n, i in self.budgets.items() if i == budget_id)


def create_fixture(dsn: str) -> Fixture:
    """A demo company, a running strategy and three budgets (allocated 1000.00, spent 100.00), committed."""
    import psycopg

    tag = uuid.uuid4().hex[:10]
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "INSERT INTO portal.companies (legal_name, brand_name, industry, country_code)"
            " VALUES (%s, %s, 'Demo', 'US') RETURNING company_id",
            (f"Concurrency Demo {tag} Inc.", f"concurrency-demo-{tag}"),
        ).fetchone()
        assert row is not None
        company_id = int(row[0])
        row = conn.execute(
            "INSERT INTO portal.strategies (company_id, name, objective, status, starts_on, ends_on)"
            " VALUES (%s, %s, 'conversion', 'running', DATE '2026-01-01', DATE '2026-03-31') RETURNING strategy_id",
            (company_id, f"concurrency demo {tag}"),
        ).fetchone()
        assert row is not None
        strategy_id = int(row[0])
        budgets = {}
        for name, sub_company in zip(BUDGET_NAMES, ("content", "ads", "crm"), strict=True):
            row = conn.execute(
                "INSERT INTO portal.budgets (strategy_id, sub_company_code, period_start, period_end,"
                " allocated_usd, spent_usd) VALUES (%s, %s, DATE '2026-01-01', DATE '2026-03-31', %s, %s)"
                " RETURNING budget_id",
                (strategy_id, sub_company, START_ALLOCATED, START_SPENT),
            ).fetchone()
            assert row is not None
            budgets[name] = int(row[0])
    return Fixture(company_id, strategy_id, budgets)


def drop_fixture(dsn: str, fixture: Fixture) -> None:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("DELETE FROM portal.strategies WHERE strategy_id = %s", (fixture.strategy_id,))  # budgets cascade
        conn.execute("DELETE FROM portal.companies WHERE company_id = %s", (fixture.company_id,))


@contextlib.contextmanager
def fixture_rows(dsn: str) -> Iterator[Fixture]:
    fixture = create_fixture(dsn)
    try:
        yield fixture
    finally:
        drop_fixture(dsn, fixture)


def final_query(fixture: Fixture) -> tuple[str, tuple[int, ...]]:
    return (
        "SELECT budget_id, allocated_usd, spent_usd FROM portal.budgets WHERE budget_id IN (%s, %s, %s)"
        " ORDER BY budget_id",
        fixture.ids(),
    )


# --------------------------------------------------------------------------- steps


def wait_until_blocking(count: int = 1, timeout: float = 5.0, hold: float = 0.1) -> sc.Step:
    """A step: wait until `count` other sessions are waiting for a lock this session holds; returns their pids.

    It polls pg_locks (a live view of the lock manager, not a statistics snapshot) every 10 ms on the session's
    own connection: this is how a session knows that another one has reached its lock wait. Once the wait is
    seen it keeps the lock `hold` seconds more, so the harness's monitor (polling every 20 ms) records it too."""

    def waiting_on_me(conn: Any) -> list[int]:
        deadline = time.monotonic() + timeout
        seen_at: float | None = None
        while True:
            rows = conn.execute(
                "SELECT DISTINCT l.pid FROM pg_locks AS l"
                " WHERE NOT l.granted AND pg_backend_pid() = ANY(pg_blocking_pids(l.pid)) ORDER BY 1"
            ).fetchall()
            now = time.monotonic()
            if len(rows) >= count:
                seen_at = now if seen_at is None else seen_at
                if now - seen_at >= hold:
                    return [int(r[0]) for r in rows]
            elif now > deadline:
                raise TimeoutError(f"no session started waiting for this session's locks within {timeout:g} s")
            time.sleep(0.01)

    return sc.call(waiting_on_me, label=f"wait until {count} session(s) wait for my lock")


def add_to(fixture: Fixture, name: str, column: str, amount: Decimal) -> sc.Step:
    verb = "debit" if amount < 0 else "credit"
    return sc.execute(
        f"UPDATE portal.budgets SET {column} = {column} + %s WHERE budget_id = %s RETURNING {column}",
        (amount, fixture.budgets[name]),
        label=f"{verb} {name} {amount:+}",
    )


def deadlock_timeout(value: str, enabled: bool) -> list[sc.Step]:
    return [sc.execute(f"SET LOCAL deadlock_timeout = '{value}'", label=f"deadlock_timeout {value}")] if enabled else []


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """One run of one scenario variant, judged."""

    scenario: str
    variant: str
    expect_anomaly: bool
    anomaly: bool
    numbers: str
    """The figures that show the anomaly, or that it did not happen."""
    result: sc.ScenarioResult
    problems: list[str] = field(default_factory=list)
    """Anything that makes the run inconclusive (an unexpected error, a wrong final row)."""
    budget_names: dict[int, str] = field(default_factory=dict)

    @property
    def proved(self) -> bool:
        return self.anomaly == self.expect_anomaly and not self.problems

    @property
    def verdict(self) -> str:
        shown = "anomaly shown" if self.anomaly else "anomaly prevented"
        return f"{shown} ({'as expected' if self.proved else 'NOT as expected'})"

    def report(self) -> str:
        r = self.result
        lines = [f"== {self.scenario}: {self.variant}"]
        for s in r.sessions:
            steps = ", ".join(f"{rec.label}{_shown_value(rec)}" + ("" if rec.ok else " -> ERROR") for rec in s.steps)
            if s.committed:
                end = "committed"
            elif s.deadlock_victim:
                end = f"DEADLOCK VICTIM ({'/'.join(s.error_codes)} {s.error})"
            elif s.error:
                end = f"failed ({'/'.join(s.error_codes) or s.error_type}: {s.error})"
            else:
                end = "rolled back"
            lines.append(f"   {s.name} (pid {s.session_id}): {steps} => {end}")
        if r.lock_waits:
            waits = "; ".join(
                f"{w.waiter} waited for {w.blocker} {w.seen_for:.2f} s ({w.detail})" for w in r.lock_waits
            )
        else:
            waits = "nobody waited for a lock"
        lines.append(f"   lock waits: {waits}")
        lines.append(f"   victims: {r.victims or 'none'}; committed: {r.committed or 'none'}")
        final = ", ".join(
            f"{self.budget_names.get(int(row['budget_id']), row['budget_id'])}: allocated {row['allocated_usd']}"
            f" spent {row['spent_usd']}"
            for row in r.final
        )
        lines.append(f"   final data: {final}")
        lines.append(f"   {self.numbers}")
        for problem in self.problems:
            lines.append(f"   problem: {problem}")
        lines.append(f"   verdict: {self.verdict}")
        return "\n".join(lines)


def _shown_value(record: sc.StepRecord) -> str:
    if record.kind == "call" and record.value is not None:
        return f" = {record.value}"
    for rs in record.result_sets:
        if rs.rows and len(rs.rows) == 1 and len(rs.rows[0]) == 1:
            return f" -> {rs.rows[0][0]}"
    return ""


def _final_by_name(result: sc.ScenarioResult, fixture: Fixture) -> dict[str, tuple[Decimal, Decimal]]:
    return {fixture.name_of(int(r["budget_id"])): (r["allocated_usd"], r["spent_usd"]) for r in result.final}


def _unexpected_errors(result: sc.ScenarioResult, allowed_victims: int = 0) -> list[str]:
    problems = [
        f"session {s.name} failed: {s.error}" for s in result.sessions if s.error is not None and not s.deadlock_victim
    ]
    if len(result.victims) > allowed_victims:
        problems.append(f"{len(result.victims)} deadlock victims, expected at most {allowed_victims}")
    return problems


# --------------------------------------------------------------------------- cascading deadlock of three

TRANSFER = Decimal("10.00")
TRANSFERS = (("A", "X", "Y"), ("B", "Y", "Z"), ("C", "Z", "X"))
"""Session, debited budget, credited budget: A waits for B, B for C, C for A."""


def cascading_deadlock(dsn: str, variant: str = "unsafe", *, fast_detection: bool | None = None) -> Outcome:
    """Three transfers in a ring. Unsafe: each debits first, so each holds one budget and waits for the next.

    Fixed: each locks the lower budget_id first (X < Y < Z, the order they were inserted in), so C starts with X
    and queues behind A holding nothing; waits form a line, not a ring."""
    if variant not in ("unsafe", "fixed"):
        raise ValueError(f"variant must be unsafe or fixed, not {variant!r}")
    fast = can_set_deadlock_timeout(dsn) if fast_detection is None else fast_detection
    with fixture_rows(dsn) as fx:
        sessions = []
        for name, debited, credited in TRANSFERS:
            debit, credit = (
                add_to(fx, debited, "allocated_usd", -TRANSFER),
                add_to(fx, credited, "allocated_usd", TRANSFER),
            )
            if variant == "unsafe":
                # C closes the ring and has the short deadlock_timeout: it detects the cycle, so it is the victim.
                timeout_steps = deadlock_timeout(FAST_DEADLOCK if name == "C" else SLOW_DEADLOCK, fast)
                wait = {"A": [], "B": [wait_until_blocking()], "C": [wait_until_blocking()]}[name]
                steps = [*timeout_steps, debit, sc.barrier("each holds its first budget"), *wait, credit]
            else:
                first, second = (debit, credit) if fx.budgets[debited] < fx.budgets[credited] else (credit, debit)
                timeout_steps = deadlock_timeout(FAST_DEADLOCK, fast)
                if name in ("A", "B"):
                    # A: X first, waits until C queues behind it, then Y (held by B).
                    # B: Y first, waits until A queues behind it, then Z.
                    steps = [*timeout_steps, first, sc.barrier("first locks taken"), wait_until_blocking(), second]
                else:  # C: X first, which A holds: it waits holding nothing
                    steps = [*timeout_steps, sc.barrier("first locks taken"), first, second]
            sessions.append(sc.Session(name, steps))
        query, params = final_query(fx)
        scenario = sc.Scenario(
            f"cascading deadlock of three ({variant})", sessions, final_query=query, final_params=params
        )
        result = sc.run_scenario(scenario, connector(dsn), sc.POSTGRES, poll_interval=0.02, timeout=20)
    final = _final_by_name(result, fx)
    expected = dict.fromkeys(BUDGET_NAMES, START_ALLOCATED)
    for name, debited, credited in TRANSFERS:
        if name in result.committed:
            expected[debited] -= TRANSFER
            expected[credited] += TRANSFER
    problems = _unexpected_errors(result, allowed_victims=1 if variant == "unsafe" else 0)
    got = {n: final[n][0] for n in BUDGET_NAMES}
    if got != expected:
        problems.append(f"final allocated {got} differs from the committed transfers' {expected}")
    anomaly = len(result.victims) == 1 and len(result.committed) == 2
    if variant == "unsafe" and anomaly:
        ring = {(w.waiter, w.blocker) for w in result.lock_waits}
        if not {("A", "B"), ("B", "C")} <= ring:
            problems.append(f"the monitor did not see the ring A->B->C (saw {sorted(ring)})")
    victim = result.victims[0] if result.victims else None
    numbers = (
        f"victim {victim} (40P01), {', '.join(result.committed)} committed; allocated X/Y/Z"
        f" {got['X']}/{got['Y']}/{got['Z']} (start 1000.00 each, transfers of {TRANSFER})"
        if victim
        else f"no victim, {len(result.committed)} of 3 committed; allocated X/Y/Z {got['X']}/{got['Y']}/{got['Z']}"
    )
    return Outcome(
        "cascading deadlock of three",
        "unsafe: each transfer debits first" if variant == "unsafe" else "fixed: lower budget_id locked first",
        expect_anomaly=variant == "unsafe",
        anomaly=anomaly,
        numbers=numbers,
        result=result,
        problems=problems,
        budget_names={i: n for n, i in fx.budgets.items()},
    )


# --------------------------------------------------------------------------- lost update

ADDS = {"A": Decimal("30.00"), "B": Decimal("50.00")}


def lost_update(dsn: str, variant: str = "unsafe") -> Outcome:
    """Two sessions add to budget X's spent_usd. Variants: unsafe, for_update, atomic."""
    if variant not in ("unsafe", "for_update", "atomic"):
        raise ValueError(f"variant must be unsafe, for_update or atomic, not {variant!r}")
    with fixture_rows(dsn) as fx:
        budget = fx.budgets["X"]
        lock = " FOR UPDATE" if variant == "for_update" else ""
        seen: dict[str, Decimal] = {}

        def read(name: str) -> sc.Step:
            def fn(conn: Any) -> Decimal:
                row = conn.execute(
                    f"SELECT spent_usd FROM portal.budgets WHERE budget_id = %s{lock}", (budget,)
                ).fetchone()
                seen[name] = row[0]
                return Decimal(row[0])

            return sc.call(fn, label=f"read spent{lock}")

        def write(name: str) -> sc.Step:
            def fn(conn: Any) -> Decimal:
                value = seen[name] + ADDS[name]
                conn.execute("UPDATE portal.budgets SET spent_usd = %s WHERE budget_id = %s", (value, budget))
                return value

            return sc.call(fn, label=f"write read + {ADDS[name]}")

        if variant == "unsafe":
            a = [read("A"), sc.barrier("both read"), write("A"), sc.barrier("A wrote"), wait_until_blocking()]
            b = [read("B"), sc.barrier("both read"), sc.barrier("A wrote"), write("B")]
        elif variant == "for_update":
            a = [read("A"), sc.barrier("A holds the row"), wait_until_blocking(), write("A")]
            b = [sc.barrier("A holds the row"), read("B"), write("B")]
        else:
            a = [add_to(fx, "X", "spent_usd", ADDS["A"]), sc.barrier("A updated"), wait_until_blocking()]
            b = [sc.barrier("A updated"), add_to(fx, "X", "spent_usd", ADDS["B"])]
        query, params = final_query(fx)
        scenario = sc.Scenario(
            f"lost update ({variant})", [sc.Session("A", a), sc.Session("B", b)], final_query=query, final_params=params
        )
        result = sc.run_scenario(scenario, connector(dsn), sc.POSTGRES, poll_interval=0.02, timeout=20)
    final = _final_by_name(result, fx)["X"][1]
    both = START_SPENT + ADDS["A"] + ADDS["B"]
    problems = _unexpected_errors(result)
    if result.committed != ["A", "B"]:
        problems.append(f"expected both sessions to commit, committed: {result.committed}")
    if result.waited("B") != {"A"}:
        problems.append(f"B should have waited for A's row lock (saw {sorted(result.waited('B'))})")
    reads = f"A read {seen.get('A', '-')}, B read {seen.get('B', '-')}; " if variant != "atomic" else ""
    numbers = f"{reads}spent {START_SPENT} + {ADDS['A']} (A) + {ADDS['B']} (B) should be {both}; final {final}" + (
        f": {both - final} lost" if final != both else ""
    )
    label = {
        "unsafe": "unsafe: read, add in the client, write back (READ COMMITTED)",
        "for_update": "fixed: SELECT ... FOR UPDATE, then write back",
        "atomic": "fixed: UPDATE ... SET spent_usd = spent_usd + n",
    }[variant]
    return Outcome(
        "lost update",
        label,
        expect_anomaly=variant == "unsafe",
        anomaly=final != both,
        numbers=numbers,
        result=result,
        problems=problems,
        budget_names={i: n for n, i in fx.budgets.items()},
    )


# --------------------------------------------------------------------------- incorrect summary

MOVED = Decimal("100.00")


def incorrect_summary(dsn: str, variant: str = "unsafe") -> Outcome:
    """A report sums budgets X and Y one after the other while a transfer moves 100.00 from X to Y and commits.

    Unsafe: READ COMMITTED (each statement sees what was committed when it started). Fixed: REPEATABLE READ (the
    whole transaction sees the snapshot of its first statement)."""
    if variant not in ("unsafe", "fixed"):
        raise ValueError(f"variant must be unsafe or fixed, not {variant!r}")
    level = "READ COMMITTED" if variant == "unsafe" else "REPEATABLE READ"
    with fixture_rows(dsn) as fx:

        def read(name: str, label: str) -> sc.Step:
            return sc.execute(
                "SELECT allocated_usd FROM portal.budgets WHERE budget_id = %s", (fx.budgets[name],), label=label
            )

        report = [
            sc.execute(f"SET TRANSACTION ISOLATION LEVEL {level}", label=level),
            read("X", "read X"),
            sc.barrier("X read"),
            sc.barrier("transfer committed"),
            read("Y", "read Y"),
            read("X", "read X again"),
        ]
        transfer = [
            sc.barrier("X read"),
            add_to(fx, "X", "allocated_usd", -MOVED),
            add_to(fx, "Y", "allocated_usd", MOVED),
            sc.commit(),
            sc.barrier("transfer committed"),
        ]
        query, params = final_query(fx)
        scenario = sc.Scenario(
            f"incorrect summary ({variant})",
            [sc.Session("report", report), sc.Session("transfer", transfer)],
            final_query=query,
            final_params=params,
        )
        result = sc.run_scenario(scenario, connector(dsn), sc.POSTGRES, poll_interval=0.02, timeout=20)
    rep = result.session("report")
    problems = _unexpected_errors(result)

    def value(label: str) -> Decimal:
        try:
            return Decimal(rep.step(label).result_sets[0].rows[0][0])
        except (KeyError, IndexError):
            problems.append(f"the report has no value for {label!r}")
            return Decimal(0)

    x, y, x_again = value("read X"), value("read Y"), value("read X again")
    total = START_ALLOCATED * 2
    final = _final_by_name(result, fx)
    if (final["X"][0], final["Y"][0]) != (START_ALLOCATED - MOVED, START_ALLOCATED + MOVED):
        problems.append(f"the transfer did not commit as expected: {final}")
    numbers = (
        f"report at {level}: X {x} + Y {y} = {x + y} (every committed state totals {total}); X read again: {x_again}"
    )
    return Outcome(
        "incorrect summary",
        f"{variant}: {level}",
        expect_anomaly=variant == "unsafe",
        anomaly=x + y != total,
        numbers=numbers,
        result=result,
        problems=problems,
        budget_names={i: n for n, i in fx.budgets.items()},
    )


# --------------------------------------------------------------------------- dirty read

UNCOMMITTED = Decimal("5000.00")


def dirty_read(dsn: str, variant: str = "unsafe") -> Outcome:
    """A writer adds 5000.00 to X's spent_usd and, before rolling back, a reader reads it.

    Unsafe: the reader asks for READ UNCOMMITTED; fixed: READ COMMITTED. PostgreSQL accepts READ UNCOMMITTED but
    runs it as READ COMMITTED (MVCC never shows another transaction's uncommitted row version), so both readers
    see 100.00: the anomaly is impossible here, which is what the "unsafe" run shows."""
    if variant not in ("unsafe", "fixed"):
        raise ValueError(f"variant must be unsafe or fixed, not {variant!r}")
    level = "READ UNCOMMITTED" if variant == "unsafe" else "READ COMMITTED"
    with fixture_rows(dsn) as fx:
        writer = [
            add_to(fx, "X", "spent_usd", UNCOMMITTED),
            sc.barrier("written"),
            sc.barrier("read"),
            sc.rollback(),
        ]
        reader = [
            sc.execute(f"SET TRANSACTION ISOLATION LEVEL {level}", label=level),
            sc.barrier("written"),
            sc.execute(
                "SELECT spent_usd FROM portal.budgets WHERE budget_id = %s", (fx.budgets["X"],), label="read spent"
            ),
            sc.execute("SHOW transaction_isolation", label="isolation level"),
            sc.barrier("read"),
        ]
        query, params = final_query(fx)
        scenario = sc.Scenario(
            f"dirty read ({variant})",
            [sc.Session("writer", writer, commit=False), sc.Session("reader", reader)],
            final_query=query,
            final_params=params,
        )
        result = sc.run_scenario(scenario, connector(dsn), sc.POSTGRES, poll_interval=0.02, timeout=20)
    problems = _unexpected_errors(result)
    reader_result, writer_result = result.session("reader"), result.session("writer")
    try:
        written = Decimal(writer_result.steps[0].result_sets[0].rows[0][0])
        seen = Decimal(reader_result.step("read spent").result_sets[0].rows[0][0])
        reported = str(reader_result.step("isolation level").result_sets[0].rows[0][0])
    except (KeyError, IndexError):
        problems.append("a session did not return its value")
        written, seen, reported = Decimal(0), Decimal(0), "?"
    if written != START_SPENT + UNCOMMITTED:
        problems.append(f"the writer's uncommitted value is {written}, expected {START_SPENT + UNCOMMITTED}")
    if _final_by_name(result, fx)["X"][1] != START_SPENT:
        problems.append("the writer's change was not rolled back")
    if result.lock_waits:
        problems.append("the reader waited for a lock: PostgreSQL readers never wait for writers")
    numbers = (
        f"writer's uncommitted spent {written}; reader (transaction_isolation = {reported!r}) saw {seen};"
        f" after the rollback {START_SPENT}"
    )
    return Outcome(
        "dirty read",
        f"{'unsafe' if variant == 'unsafe' else 'fixed'}: reader at {level}",
        expect_anomaly=False,
        anomaly=seen != START_SPENT,
        numbers=numbers,
        result=result,
        problems=problems,
        budget_names={i: n for n, i in fx.budgets.items()},
    )


# --------------------------------------------------------------------------- all of them

RUNS: tuple[tuple[Callable[..., Outcome], str], ...] = (
    (cascading_deadlock, "unsafe"),
    (cascading_deadlock, "fixed"),
    (lost_update, "unsafe"),
    (lost_update, "for_update"),
    (lost_update, "atomic"),
    (incorrect_summary, "unsafe"),
    (incorrect_summary, "fixed"),
    (dirty_read, "unsafe"),
    (dirty_read, "fixed"),
)


def run_all(dsn: str) -> list[Outcome]:
    return [fn(dsn, variant) for fn, variant in RUNS]


@contextlib.contextmanager
def scratch_database(admin_dsn: str) -> Iterator[str]:
    """A new database with the sales schema deployed; dropped (WITH FORCE) afterwards."""
    import psycopg
    from psycopg import sql

    from generators.deploy import deploy_postgres

    name = f"ps_scenarios_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = f"{admin_dsn.rpartition('/')[0]}/{name}"
        deploy_postgres(dsn, "sales")
        yield dsn
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.concurrency_pg", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn", help="a database with the sales schema deployed (default: a scratch database, dropped at the end)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.dsn:
        outcomes = run_all(args.dsn)
    else:
        with scratch_database(PG_ADMIN_URL) as dsn:
            out(f"scratch database {dsn.rpartition('/')[2]} (sales schema deployed)\n")
            outcomes = run_all(dsn)
    for outcome in outcomes:
        out(outcome.report() + "\n")
    failed = [o for o in outcomes if not o.proved]
    out(
        f"scenarios: {len(outcomes) - len(failed)} of {len(outcomes)} proved their point"
        f" in {time.perf_counter() - started:.1f} s"
        + (f"; NOT proved: {', '.join(f'{o.scenario} ({o.variant})' for o in failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
