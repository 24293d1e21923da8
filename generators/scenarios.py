"""Run concurrency scenarios: N database sessions in threads, synchronized by named barriers, with a lock-wait monitor.

A scenario is a list of sessions; each session is a list of steps run on its own DB-API connection, in its own
thread. Steps are SQL (`execute`), Python (`call`), a named rendezvous (`barrier`), a pause (`pause`), or an
explicit `commit`/`rollback`. While the sessions run, a monitor thread polls the engine's lock-wait view and
records which session waited on which. The result says, per session, which steps ran and when, the error it ended
with, whether the engine chose it as the deadlock victim and whether it committed; then the final-data query's rows.

    from generators import scenarios as sc

    deadlock = sc.Scenario(
        "two-session deadlock",
        sessions=[
            sc.Session("A", [sc.execute("UPDATE t SET v = v + 1 WHERE id = 1"), sc.barrier("both hold a row"),
                             sc.execute("UPDATE t SET v = v + 1 WHERE id = 2")]),
            sc.Session("B", [sc.execute("UPDATE t SET v = v + 1 WHERE id = 2"), sc.barrier("both hold a row"),
                             sc.execute("UPDATE t SET v = v + 1 WHERE id = 1")]),
        ],
        final_query="SELECT id, v FROM t ORDER BY id",
    )
    result = sc.run_scenario(deadlock, lambda: psycopg.connect(url), sc.POSTGRES)
    result.victims        # ["B"]: the session the engine rolled back (40P01; SQL Server: 1205)
    result.committed      # ["A"]
    result.waited("A")    # {"B"}: the monitor saw A waiting for a lock B held
    print(result.summary())

Engine-neutral: the engine-specific parts (its session id, its lock-wait view, how it reports a deadlock victim,
how to cancel a stuck statement) live in an `Engine`; `POSTGRES` and `SQLSERVER` are provided. Dependency-free
(threading, dataclasses, time, re): the caller's connection factory brings the driver.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

StepKind = Literal["execute", "call", "barrier", "pause", "commit", "rollback"]
Params = Sequence[Any] | Mapping[str, Any]
Connect = Callable[[], Any]


class ScenarioError(ValueError):
    """The scenario itself is wrong (duplicate names, a barrier only one session uses, ...); nothing was run."""


class BarrierTimeout(Exception):
    """A session waited at a barrier longer than the scenario's barrier timeout."""


class BarrierBroken(Exception):
    """A session reached a barrier another session had already given up on (timeout or abort)."""


class ScenarioAborted(Exception):
    """The scenario ran past its overall timeout; the session's pause or barrier wait was interrupted."""


# --------------------------------------------------------------------------- steps and scenarios


@dataclass(frozen=True)
class Step:
    """One thing a session does; build steps with execute(), call(), barrier(), pause(), commit(), rollback()."""

    kind: StepKind
    label: str
    sql: str | None = None
    params: Params | None = None
    fn: Callable[[Any], Any] | None = None
    barrier: str | None = None
    seconds: float = 0.0


def _short(sql: str, width: int = 60) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def execute(sql: str, params: Params | None = None, *, label: str | None = None) -> Step:
    """Run SQL on the session's connection; every result set is read (an error in a later statement surfaces)."""
    return Step("execute", label or _short(sql), sql=sql, params=params)


def call(fn: Callable[[Any], Any], *, label: str | None = None) -> Step:
    """Call fn(connection); its return value is kept in the step's record."""
    return Step("call", label or str(getattr(fn, "__name__", "call")), fn=fn)


def barrier(name: str) -> Step:
    """Wait until every other session that has this barrier reaches it (or has ended without reaching it)."""
    return Step("barrier", f"barrier {name!r}", barrier=name)


def pause(seconds: float) -> Step:
    """Sleep on the client side, holding whatever the session's transaction holds."""
    return Step("pause", f"pause {seconds:g} s", seconds=seconds)


def commit() -> Step:
    return Step("commit", "commit")


def rollback() -> Step:
    return Step("rollback", "rollback")


@dataclass(frozen=True)
class Session:
    """A named session: its steps, run in order on one connection; then a commit (or, commit=False, a rollback)."""

    name: str
    steps: Sequence[Step]
    commit: bool = True


@dataclass(frozen=True)
class Scenario:
    """Sessions that run concurrently, and the query whose rows show the data they left behind."""

    name: str
    sessions: Sequence[Session]
    final_query: str | None = None
    final_params: Params | None = None
    description: str = ""


# --------------------------------------------------------------------------- engines


@dataclass(frozen=True)
class Engine:
    """What differs between engines: session ids, the lock-wait view, deadlock victims, cancelling a statement."""

    name: str
    session_word: str
    """How the engine calls its session ids in messages ("pid", "spid")."""
    session_id_sql: str
    lock_waits: Callable[[Any, Sequence[int]], list[tuple[int, int, str]]]
    """(connection, session ids) -> (waiting session id, blocking session id, what it waits for) now."""
    cancel: Callable[[Any, int], None]
    """(control connection, session id): stop that session's running statement."""
    error_codes: Callable[[BaseException], tuple[str, ...]]
    """The engine's codes of an error, outermost first (SQLSTATE, or error numbers incl. wrapped ones)."""
    is_deadlock_victim: Callable[[BaseException], bool]


def _end_read(conn: Any) -> None:
    # A monitor poll must see the present: PostgreSQL freezes pg_stat_activity for the rest of a transaction, so
    # the poll's transaction ends here (a no-op with autocommit).
    with contextlib.suppress(Exception):
        conn.rollback()


def _fetch(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        rows = [tuple(r) for r in cur.fetchall()] if cur.description is not None else []
    finally:
        cur.close()
        _end_read(conn)
    return rows


def _id_list(ids: Sequence[int]) -> str:
    # Session ids come from the engine itself and are ints; int() keeps anything else out of the statement text.
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def _pg_lock_waits(conn: Any, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    rows = _fetch(
        conn,
        "SELECT a.pid, pg_blocking_pids(a.pid), a.wait_event FROM pg_stat_activity AS a"
        f" WHERE a.wait_event_type = 'Lock' AND a.pid IN ({_id_list(ids)})",
    )
    return [(int(pid), int(blocker), f"Lock:{event}") for pid, blockers, event in rows for blocker in blockers or ()]


def _pg_cancel(conn: Any, session_id: int) -> None:
    _fetch(conn, f"SELECT pg_cancel_backend({int(session_id)})")


def _pg_error_codes(exc: BaseException) -> tuple[str, ...]:
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return (str(code),) if code else ()


def _pg_is_deadlock_victim(exc: BaseException) -> bool:
    return "40P01" in _pg_error_codes(exc)


_MSSQL_LOCK_WAITS = """
SELECT r.session_id, r.blocking_session_id, r.wait_type,
    COALESCE(
        w.resource_type + N' ' + OBJECT_SCHEMA_NAME(w.object_id, w.database_id) + N'.'
            + OBJECT_NAME(w.object_id, w.database_id),
        r.wait_resource
    ) AS waits_for
FROM sys.dm_exec_requests AS r
OUTER APPLY (
    SELECT TOP (1)
        l.resource_type,
        l.resource_database_id AS database_id,
        CONVERT(int, CASE WHEN l.resource_type = N'OBJECT' THEN l.resource_associated_entity_id ELSE p.object_id END)
            AS object_id
    FROM sys.dm_tran_locks AS l
    LEFT JOIN sys.partitions AS p
        ON p.hobt_id = l.resource_associated_entity_id AND l.resource_database_id = DB_ID()
    WHERE l.request_session_id = r.session_id AND l.request_status = N'WAIT'
) AS w
WHERE r.blocking_session_id > 0 AND r.wait_type LIKE N'LCK%' AND r.session_id IN ({ids})
"""
"""Who waits for whom, and on which object: wait_resource alone says `KEY: 7:72057594043105280 (8194443284a0)`;
the waiting lock request's hobt resolves it to a table or an indexed view (in the monitor's database)."""


def _mssql_lock_waits(conn: Any, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    # blocking_session_id < 0 means an orphaned distributed transaction or a latch in transition, not a session.
    rows = _fetch(conn, _MSSQL_LOCK_WAITS.format(ids=_id_list(ids)))
    return [(int(sid), int(blocker), f"{wait_type} {what or ''}".strip()) for sid, blocker, wait_type, what in rows]


def _mssql_cancel(conn: Any, session_id: int) -> None:
    # SQL Server has no "cancel another session's statement": KILL ends the session (its transaction rolls back).
    _fetch(conn, f"KILL {int(session_id)}")


_WRAPPED_NUMBER = re.compile(r"\(error (\d+), severity \d+")
"""The project's procedures re-raise engine errors as `<custom number>` with `(error N, severity S, state T)`."""


def _mssql_error_codes(exc: BaseException) -> tuple[str, ...]:
    number = getattr(exc, "number", 0) or getattr(exc, "msg_no", 0)
    codes = [str(number)] if number else []
    codes += [n for n in _WRAPPED_NUMBER.findall(_error_text(exc)) if n not in codes]
    return tuple(codes)


def _mssql_is_deadlock_victim(exc: BaseException) -> bool:
    # Error 1205 itself, or a procedure's CATCH block that re-raised it under its own number.
    return "1205" in _mssql_error_codes(exc) or "chosen as the deadlock victim" in _error_text(exc)


POSTGRES = Engine(
    name="PostgreSQL",
    session_word="pid",
    session_id_sql="SELECT pg_backend_pid()",
    lock_waits=_pg_lock_waits,
    cancel=_pg_cancel,
    error_codes=_pg_error_codes,
    is_deadlock_victim=_pg_is_deadlock_victim,
)

SQLSERVER = Engine(
    name="SQL Server",
    session_word="spid",
    session_id_sql="SELECT @@SPID",
    lock_waits=_mssql_lock_waits,
    cancel=_mssql_cancel,
    error_codes=_mssql_error_codes,
    is_deadlock_victim=_mssql_is_deadlock_victim,
)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ResultSet:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any] | None:
        """The first row as {column: value}, or None when the set is empty."""
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else None


@dataclass(frozen=True)
class StepRecord:
    """A step as it ran; times are seconds since the scenario started."""

    index: int
    kind: StepKind
    label: str
    started: float
    ended: float
    error: str | None = None
    result_sets: tuple[ResultSet, ...] = ()
    value: Any = None
    """What a `call` step's function returned."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class LockWait:
    """One session seen waiting for a lock another session held (first and last poll that saw it)."""

    waiter: str
    blocker: str
    detail: str
    first_seen: float
    last_seen: float
    samples: int

    @property
    def seen_for(self) -> float:
        return self.last_seen - self.first_seen


@dataclass(frozen=True)
class SessionResult:
    name: str
    session_id: int | None
    """The engine's own id of the session (pg_backend_pid() / @@SPID)."""
    steps: tuple[StepRecord, ...]
    started: float
    ended: float
    committed: bool
    """Every step succeeded and the final commit went through (with autocommit: every step succeeded)."""
    error: str | None = None
    """First line of the error the session ended with."""
    error_detail: str | None = None
    error_type: str | None = None
    error_codes: tuple[str, ...] = ()
    deadlock_victim: bool = False
    cancelled: bool = False
    """The scenario ran past its timeout while this session was still running."""
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if not s.ok), None)

    @property
    def result_sets(self) -> list[ResultSet]:
        return [rs for s in self.steps for rs in s.result_sets]

    def last_row(self) -> dict[str, Any] | None:
        """The first row of the last non-empty result set the session received."""
        return next((rs.first() for rs in reversed(self.result_sets) if rs.rows), None)

    def step(self, label: str) -> StepRecord:
        for record in self.steps:
            if record.label == label:
                return record
        raise KeyError(f"session {self.name!r} ran no step labelled {label!r}")


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    engine: str
    sessions: tuple[SessionResult, ...]
    lock_waits: tuple[LockWait, ...]
    elapsed: float
    final_columns: tuple[str, ...] = ()
    final_rows: tuple[tuple[Any, ...], ...] = ()
    monitor_error: str | None = None
    """Why the lock-wait monitor stopped early (e.g. no permission on the view), if it did."""
    session_word: str = "session"
    """How the engine calls its session ids ("pid", "spid")."""

    def session(self, name: str) -> SessionResult:
        for result in self.sessions:
            if result.name == name:
                return result
        raise KeyError(f"scenario {self.scenario!r} has no session {name!r}")

    @property
    def victims(self) -> list[str]:
        """Sessions the engine chose as deadlock victims."""
        return [s.name for s in self.sessions if s.deadlock_victim]

    @property
    def committed(self) -> list[str]:
        return [s.name for s in self.sessions if s.committed]

    @property
    def failed(self) -> list[str]:
        return [s.name for s in self.sessions if s.error is not None]

    def waited(self, session: str) -> set[str]:
        """The sessions (or outside `pid N`/`spid N`) the monitor saw `session` waiting on for a lock."""
        self.session(session)  # a typo in a name is an error, not an empty set
        return {w.blocker for w in self.lock_waits if w.waiter == session}

    @property
    def final(self) -> list[dict[str, Any]]:
        return [dict(zip(self.final_columns, row, strict=True)) for row in self.final_rows]

    def summary(self) -> str:
        """One readable paragraph: what each session did, who waited on whom, and the final data."""
        parts = []
        for s in self.sessions:
            who = f"{s.name} ({self.session_word} {s.session_id})" if s.session_id is not None else s.name
            ran = f"{len(s.steps)} step{'s' if len(s.steps) != 1 else ''}"
            if s.committed:
                parts.append(f"{who} committed after {ran} in {s.ended - s.started:.2f} s")
                continue
            failed = s.failed_step
            at = f" at step {failed.index} {failed.label!r}" if failed else ""
            codes = f"{'/'.join(s.error_codes)}: " if s.error_codes else ""
            if s.deadlock_victim:
                parts.append(f"{who} was chosen as the deadlock victim{at} ({codes}{s.error})")
            elif s.cancelled:
                parts.append(f"{who} was cancelled{at} after the scenario timeout ({codes}{s.error})")
            elif s.error is not None:
                parts.append(f"{who} failed{at} ({codes}{s.error})")
            else:
                parts.append(f"{who} finished after {ran} without committing")
        waits = (
            "; lock waits seen: "
            + ", ".join(f"{w.waiter} on {w.blocker} ({w.detail}) for {w.seen_for:.2f} s" for w in self.lock_waits)
            if self.lock_waits
            else "; no lock wait seen"
        )
        if self.monitor_error:
            waits += f" (the monitor stopped: {self.monitor_error})"
        final = f"; final data: {len(self.final_rows)} row(s)" if self.final_columns else ""
        return f"{self.scenario} ({self.engine}, {self.elapsed:.2f} s): " + "; ".join(parts) + waits + final + "."


# --------------------------------------------------------------------------- the run


def _error_text(exc: BaseException) -> str:
    # pytds builds its errors with two arguments, so str() shows a tuple; the message is the first argument.
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0].strip()
    return str(exc).strip()


class _Rendezvous:
    """A barrier that knows its members by name: a member that ends early leaves it, so the others go on."""

    def __init__(self, name: str, members: set[str], describe: Callable[[str], str]) -> None:
        self.name = name
        self.members = members
        self.arrived: set[str] = set()
        self.left: set[str] = set()
        self.broken: str | None = None
        self._describe = describe
        self._cond = threading.Condition()

    def _complete(self) -> bool:
        return self.members <= self.arrived | self.left

    def wait(self, session: str, timeout: float) -> None:
        with self._cond:
            if self.broken is not None:
                raise BarrierBroken(f"session {session!r} reached barrier {self.name!r} after it broke: {self.broken}")
            self.arrived.add(session)
            deadline = time.monotonic() + timeout
            while not self._complete():
                if self.broken is not None:
                    raise BarrierBroken(f"barrier {self.name!r} broke while session {session!r} waited: {self.broken}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = sorted(self.members - self.arrived - self.left)
                    where = ", ".join(f"{m} ({self._describe(m)})" for m in missing)
                    self.broken = f"session {session!r} gave up after {timeout:g} s"
                    self._cond.notify_all()
                    raise BarrierTimeout(
                        f"session {session!r} waited {timeout:g} s at barrier {self.name!r} for {where};"
                        " a session blocked on a lock that a waiting session holds never arrives"
                    )
                self._cond.wait(remaining)
            self._cond.notify_all()

    def leave(self, session: str) -> None:
        with self._cond:
            if session not in self.arrived:
                self.left.add(session)
                self._cond.notify_all()

    def abort(self, reason: str) -> None:
        with self._cond:
            if not self._complete():
                self.broken = self.broken or reason
            self._cond.notify_all()


def _validate(scenario: Scenario) -> dict[str, set[str]]:
    names = [s.name for s in scenario.sessions]
    if not names:
        raise ScenarioError(f"scenario {scenario.name!r} has no session")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioError(f"scenario {scenario.name!r}: session names must be unique, repeated: {duplicates}")
    members: dict[str, set[str]] = {}
    for session in scenario.sessions:
        seen: set[str] = set()
        for step in session.steps:
            if step.kind != "barrier" or step.barrier is None:
                continue
            if step.barrier in seen:
                raise ScenarioError(
                    f"scenario {scenario.name!r}: session {session.name!r} uses barrier {step.barrier!r} twice;"
                    " give each rendezvous its own name"
                )
            seen.add(step.barrier)
            members.setdefault(step.barrier, set()).add(session.name)
    lonely = sorted(name for name, who in members.items() if len(who) < 2)
    if lonely:
        raise ScenarioError(f"scenario {scenario.name!r}: barrier(s) {lonely} used by one session only (a typo?)")
    return members


def _read_results(cur: Any) -> tuple[ResultSet, ...]:
    sets = []
    while True:
        if cur.description is not None:
            columns = tuple(str(d[0] or f"column{i + 1}") for i, d in enumerate(cur.description))
            sets.append(ResultSet(columns, tuple(tuple(r) for r in cur.fetchall())))
        if not cur.nextset():
            return tuple(sets)


class _Run:
    """The shared state of one run: clock, barriers, what each session is doing, the abort signal."""

    def __init__(self, scenario: Scenario, engine: Engine, barrier_timeout: float) -> None:
        self.scenario = scenario
        self.engine = engine
        self.barrier_timeout = barrier_timeout
        self.t0 = time.perf_counter()
        self.abort = threading.Event()
        self.doing: dict[str, str] = {s.name: "not started" for s in scenario.sessions}
        self.in_statement: dict[str, bool] = {s.name: False for s in scenario.sessions}
        self.barriers = {
            name: _Rendezvous(name, who, lambda m: self.doing[m]) for name, who in _validate(scenario).items()
        }
        self.results: dict[str, SessionResult] = {}

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def run_step(self, session: str, conn: Any, index: int, step: Step) -> tuple[StepRecord, BaseException | None]:
        """Run one step; a failure is returned (record and exception), not raised, so the session can end cleanly."""
        self.doing[session] = f"running step {index} {step.label!r}"
        started = self.now()
        result_sets: tuple[ResultSet, ...] = ()
        value = None
        try:
            if step.kind == "execute":
                self.in_statement[session] = True
                cur = conn.cursor()
                try:
                    if step.params is None:
                        cur.execute(step.sql)  # no parameters: a plain batch, so "%" in the text stays as it is
                    else:
                        cur.execute(step.sql, step.params)
                    result_sets = _read_results(cur)
                finally:
                    self.in_statement[session] = False
                    with contextlib.suppress(Exception):
                        cur.close()
            elif step.kind == "call" and step.fn is not None:
                self.in_statement[session] = True
                try:
                    value = step.fn(conn)
                finally:
                    self.in_statement[session] = False
            elif step.kind == "barrier" and step.barrier is not None:
                self.doing[session] = f"waiting at barrier {step.barrier!r}"
                self.barriers[step.barrier].wait(session, self.barrier_timeout)
            elif step.kind == "pause":
                if self.abort.wait(step.seconds):
                    raise ScenarioAborted(f"session {session!r}: pause interrupted, the scenario ran past its timeout")
            elif step.kind == "commit":
                conn.commit()
            elif step.kind == "rollback":
                conn.rollback()
        except Exception as exc:
            error = _error_text(exc) or type(exc).__name__
            return StepRecord(index, step.kind, step.label, started, self.now(), error), exc
        return StepRecord(index, step.kind, step.label, started, self.now(), None, result_sets, value), None

    def run_session(self, session: Session, conn: Any, session_id: int | None) -> None:
        started = self.now()
        records: list[StepRecord] = []
        failure: BaseException | None = None
        committed = False
        try:
            for index, step in enumerate(session.steps, start=1):
                record, failure = self.run_step(session.name, conn, index, step)
                records.append(record)
                if failure is not None:
                    break
            if failure is None:
                self.doing[session.name] = "committing" if session.commit else "rolling back"
                if session.commit:
                    conn.commit()
                    committed = True
                else:
                    conn.rollback()
        except Exception as exc:  # the final commit failed (a deferred constraint, a serialization failure)
            failure = exc
        finally:
            if failure is not None:
                with contextlib.suppress(Exception):
                    conn.rollback()
            for rendezvous in self.barriers.values():
                rendezvous.leave(session.name)
            self.doing[session.name] = "finished" if failure is None else "ended with an error"
        self.results[session.name] = self._session_result(session, session_id, records, started, committed, failure)

    def _session_result(
        self,
        session: Session,
        session_id: int | None,
        records: list[StepRecord],
        started: float,
        committed: bool,
        failure: BaseException | None,
    ) -> SessionResult:
        if failure is None:
            return SessionResult(session.name, session_id, tuple(records), started, self.now(), committed)
        text = _error_text(failure) or type(failure).__name__
        return SessionResult(
            session.name,
            session_id,
            tuple(records),
            started,
            self.now(),
            committed=False,
            error=text.splitlines()[0],
            error_detail=text,
            error_type=type(failure).__name__,
            error_codes=self.engine.error_codes(failure),
            deadlock_victim=self.engine.is_deadlock_victim(failure),
            cancelled=self.abort.is_set(),
            exception=failure,
        )


class _Monitor(threading.Thread):
    """Polls the engine's lock-wait view and aggregates what it sees per (waiter, blocker, what)."""

    def __init__(self, run: _Run, conn: Any, names: dict[int, str], interval: float, lock: threading.Lock) -> None:
        super().__init__(name=f"scenario-monitor-{run.scenario.name}", daemon=True)
        self.run_state = run
        self.conn = conn
        self.names = names
        self.interval = interval
        self.lock = lock
        self.stop = threading.Event()
        self.seen: dict[tuple[str, str, str], list[float]] = {}
        self.error: str | None = None

    def name_of(self, session_id: int) -> str:
        return self.names.get(session_id, f"{self.run_state.engine.session_word} {session_id}")

    def run(self) -> None:
        ids = sorted(self.names)
        while not self.stop.is_set():
            try:
                with self.lock:
                    waits = self.run_state.engine.lock_waits(self.conn, ids)
            except Exception as exc:
                self.error = (_error_text(exc) or type(exc).__name__).splitlines()[0]
                return
            at = self.run_state.now()
            for waiter, blocker, detail in waits:
                key = (self.name_of(waiter), self.name_of(blocker), detail)
                entry = self.seen.setdefault(key, [at, at, 0])
                entry[1], entry[2] = at, entry[2] + 1
            self.stop.wait(self.interval)

    def lock_waits(self) -> tuple[LockWait, ...]:
        waits = [LockWait(w, b, d, first, last, int(n)) for (w, b, d), (first, last, n) in self.seen.items()]
        return tuple(sorted(waits, key=lambda x: (x.first_seen, x.waiter, x.blocker)))


def _session_id(conn: Any, engine: Engine) -> int | None:
    try:
        rows = _fetch(conn, engine.session_id_sql)
    except Exception:
        return None
    return int(rows[0][0]) if rows else None


def run_scenario(
    scenario: Scenario,
    connect: Connect,
    engine: Engine,
    *,
    monitor: bool = True,
    barrier_timeout: float = 10.0,
    timeout: float = 60.0,
    poll_interval: float = 0.05,
) -> ScenarioResult:
    """Run every session of `scenario` in its own thread on its own `connect()` connection; return what happened.

    `connect` makes one DB-API connection per call (one per session, one for the monitor, one for the final
    query); the harness closes every connection it made. A barrier wait longer than `barrier_timeout` fails that
    session with a message naming it, the barrier and what the missing sessions are doing. Past `timeout` the
    harness interrupts pauses and barrier waits and cancels running statements through the engine (PostgreSQL
    pg_cancel_backend, SQL Server KILL). Lock waits shorter than `poll_interval` may go unseen.
    """
    run = _Run(scenario, engine, barrier_timeout)
    sessions = list(scenario.sessions)
    conns: dict[str, Any] = {}
    opened: list[Any] = []
    try:
        for session in sessions:
            conn = connect()
            opened.append(conn)
            conns[session.name] = conn
        ids = {s.name: _session_id(conns[s.name], engine) for s in sessions}
        control = connect()
        opened.append(control)
        control_lock = threading.Lock()
        names = {sid: name for name, sid in ids.items() if sid is not None}
        watcher = _Monitor(run, control, names, poll_interval, control_lock) if monitor and names else None

        run.t0 = time.perf_counter()
        threads = [
            threading.Thread(
                target=_session_thread,
                args=(run, s, conns[s.name], ids[s.name]),
                name=f"scenario-{scenario.name}-{s.name}",
                daemon=True,
            )
            for s in sessions
        ]
        if watcher is not None:
            watcher.start()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [s.name for s, t in zip(sessions, threads, strict=True) if t.is_alive()]
        if stuck:
            _abort(run, stuck, ids, control, control_lock, timeout)
            for thread in threads:
                thread.join(5.0)
        if watcher is not None:
            watcher.stop.set()
            watcher.join(5.0)
        elapsed = run.now()
        for session in sessions:
            if session.name not in run.results:
                # Still alive after the cancel: report it; its connection is left to its thread.
                opened.remove(conns[session.name])
                run.results[session.name] = SessionResult(
                    session.name,
                    ids[session.name],
                    (),
                    0.0,
                    elapsed,
                    committed=False,
                    error=f"still running {timeout:g} s after the scenario started, and after the cancel",
                    error_type="ScenarioAborted",
                    cancelled=True,
                )
        final_columns: tuple[str, ...] = ()
        final_rows: tuple[tuple[Any, ...], ...] = ()
        if scenario.final_query is not None:
            final_columns, final_rows = _final(connect, opened, scenario)
        return ScenarioResult(
            scenario=scenario.name,
            engine=engine.name,
            sessions=tuple(run.results[s.name] for s in sessions),
            lock_waits=watcher.lock_waits() if watcher is not None else (),
            elapsed=elapsed,
            final_columns=final_columns,
            final_rows=final_rows,
            monitor_error=watcher.error if watcher is not None else None,
            session_word=engine.session_word,
        )
    finally:
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()


def _session_thread(run: _Run, session: Session, conn: Any, session_id: int | None) -> None:
    run.run_session(session, conn, session_id)


def _abort(
    run: _Run, stuck: list[str], ids: dict[str, int | None], control: Any, lock: threading.Lock, timeout: float
) -> None:
    run.abort.set()
    reason = f"the scenario ran past its {timeout:g} s timeout"
    for rendezvous in run.barriers.values():
        rendezvous.abort(reason)
    for name in stuck:
        session_id = ids[name]
        if session_id is not None and run.in_statement.get(name):
            with lock, contextlib.suppress(Exception):
                run.engine.cancel(control, session_id)


def _final(
    connect: Connect, opened: list[Any], scenario: Scenario
) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    conn = connect()
    opened.append(conn)
    cur = conn.cursor()
    try:
        assert scenario.final_query is not None
        if scenario.final_params is None:
            cur.execute(scenario.final_query)
        else:
            cur.execute(scenario.final_query, scenario.final_params)
        sets = _read_results(cur)
    finally:
        cur.close()
        _end_read(conn)
    last = next((rs for rs in reversed(sets)), ResultSet((), ()))
    return last.columns, last.rows
