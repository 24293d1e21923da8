"""A deadlock between two clients on two "computers": two Linux network namespaces, one PostgreSQL server.

    python -m generators.netns_deadlock [--dsn URL] [--plain]

The parent (root, with iproute2) builds two network namespaces, each joined to the host by a veth pair with a
private /30 of its own (host side .1, namespace side .2), and runs one client process in each:

    ip netns exec <namespace> .venv/bin/python -m generators.netns_deadlock --client ...

Both clients talk to the PostgreSQL server of the host. The server listens on 127.0.0.1 only and trusts only
loopback connections, and its configuration is left alone: the parent runs a small TCP forwarder in the host
namespace (one thread per veth host address, accepting on an ephemeral port and relaying each connection to
127.0.0.1:5432). So the server sees both clients coming from 127.0.0.1 (its `inet_client_addr()` says so), while
the forwarder sees each client's own address (10.x.y.2 of its namespace) and port, and each client reports the
local address of its socket. That is what shows two different machines on the network.

The clients lock two budgets of a demo strategy (portal.budgets) in opposite orders. They meet at a barrier
made of files in a shared directory (each writes `<name>.ready` after its first UPDATE and waits for the
other's), then update their second budget: one of them gets 40P01 (deadlock detected) and rolls back, the other
commits. Each client prints one JSON line (its addresses, backend pid, outcome); the parent collects both and
tears down the namespaces, the veth pairs and the forwarder, also when something fails.

Without root or without `ip` (or with --plain), the two clients run as two plain processes on the host, straight
to the server, and the reason is printed: the deadlock is the same, only the network story is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("PROMPTSALES_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CLIENT_TIMEOUT = 30.0
BARRIER_TIMEOUT = 10.0


# --------------------------------------------------------------------------- the client (runs inside a namespace)


def _socket_address(conn: Any) -> tuple[str, int]:
    """The local (address, port) of the connection's TCP socket, as this machine sees it."""
    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        host, port = sock.getsockname()[:2]
    finally:
        sock.close()
    return str(host), int(port)


def _file_barrier(directory: Path, name: str, others: Sequence[str], timeout: float) -> None:
    (directory / f"{name}.ready").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + timeout
    while not all((directory / f"{o}.ready").exists() for o in others):
        if time.monotonic() > deadline:
            raise TimeoutError(f"client {name} waited {timeout:g} s at the barrier for {', '.join(others)}")
        time.sleep(0.01)


def client(
    name: str, dsn: str, first: int, second: int, barrier_dir: Path, peer: str, deadlock_timeout: str | None
) -> dict[str, Any]:
    """Lock budget `first`, meet the peer at the barrier, lock budget `second`; report what happened."""
    import psycopg

    report: dict[str, Any] = {"name": name, "first": first, "second": second}
    with psycopg.connect(dsn, connect_timeout=5, application_name=f"netns-deadlock-{name}") as conn:
        report["local_addr"], report["local_port"] = _socket_address(conn)
        row = conn.execute(
            "SELECT pg_backend_pid(), host(inet_client_addr()), inet_client_port(), host(inet_server_addr()),"
            " inet_server_port(), current_setting('is_superuser')"
        ).fetchone()
        assert row is not None
        report.update(backend_pid=row[0], server_sees_client=f"{row[1]}:{row[2]}", server_addr=f"{row[3]}:{row[4]}")
        conn.rollback()
        try:
            if deadlock_timeout and row[5] == "on":
                conn.execute(f"SET LOCAL deadlock_timeout = '{deadlock_timeout}'")
            conn.execute("UPDATE portal.budgets SET spent_usd = spent_usd + 1 WHERE budget_id = %s", (first,))
            _file_barrier(barrier_dir, name, [peer], BARRIER_TIMEOUT)
            started = time.perf_counter()
            conn.execute("UPDATE portal.budgets SET spent_usd = spent_usd + 1 WHERE budget_id = %s", (second,))
            conn.commit()
            report.update(outcome="committed", waited_s=round(time.perf_counter() - started, 3))
        except psycopg.Error as exc:
            conn.rollback()
            report.update(
                outcome="deadlock victim" if exc.sqlstate == "40P01" else "failed",
                sqlstate=exc.sqlstate,
                error=str(exc).strip().splitlines()[0],
                waited_s=round(time.perf_counter() - started, 3) if "started" in locals() else None,
            )
    return report


# --------------------------------------------------------------------------- the forwarder (host namespace)


class Forwarder:
    """Accepts TCP connections on (listen_host, ephemeral port) and relays each one to `target`.

    Records the peer address of every accepted connection: the namespace client's own address and port."""

    def __init__(self, listen_host: str, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server((listen_host, 0))
        self.listener.settimeout(0.2)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.peers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"forwarder-{listen_host}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                downstream, peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self.peers.append((str(peer[0]), int(peer[1])))
                self._sockets += [downstream, upstream]
            threading.Thread(target=self._pump, args=(downstream, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(2)
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()


# --------------------------------------------------------------------------- namespaces


@dataclass(frozen=True)
class Machine:
    """One client "computer": its namespace, its veth pair and its /30."""

    name: str
    namespace: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def netns_unavailable() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "not root: creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"ps-probe-{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"`ip netns add` failed: {detail.strip()}"
    with contextlib.suppress(Exception):
        _ip("netns", "del", probe)
    return None


def _free_subnet() -> int:
    """A third octet X such that 10.250.X.0/29 is not on any interface (two /30s: .0/30 and .4/30)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    candidates = [x for x in range(1, 255) if f"10.250.{x}." not in used]
    return secrets.choice(candidates)


@contextlib.contextmanager
def machines(names: Sequence[str]) -> Iterator[list[Machine]]:
    """Two (or more) namespaces with a veth pair each; everything created is deleted on the way out."""
    tag = uuid.uuid4().hex[:6]
    octet = _free_subnet()
    created: list[Machine] = []
    try:
        for i, name in enumerate(names):
            base = 4 * i
            m = Machine(
                name,
                f"ps-dl-{tag}-{name.lower()}",
                f"vh{tag}{i}",
                f"vn{tag}{i}",
                f"10.250.{octet}.{base + 1}",
                f"10.250.{octet}.{base + 2}",
            )
            _ip("netns", "add", m.namespace)
            created.append(m)
            _ip("link", "add", m.host_if, "type", "veth", "peer", "name", m.ns_if)
            _ip("link", "set", m.ns_if, "netns", m.namespace)
            _ip("addr", "add", f"{m.host_ip}/30", "dev", m.host_if)
            _ip("link", "set", m.host_if, "up")
            _ip("netns", "exec", m.namespace, "ip", "addr", "add", f"{m.ns_ip}/30", "dev", m.ns_if)
            _ip("netns", "exec", m.namespace, "ip", "link", "set", m.ns_if, "up")
            _ip("netns", "exec", m.namespace, "ip", "link", "set", "lo", "up")
        yield created
    finally:
        for m in created:
            with contextlib.suppress(Exception):
                _ip("link", "del", m.host_if)  # deletes its peer too (if it is still in the namespace)
            with contextlib.suppress(Exception):
                _ip("netns", "del", m.namespace)


def leftovers(tag_prefix: str = "ps-dl-") -> list[str]:
    """Namespaces of this module that still exist (a test checks that none is left behind)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tag_prefix)]


# --------------------------------------------------------------------------- the parent


@dataclass
class DeadlockRun:
    mode: str
    """"netns" (two namespaces) or "plain" (two processes on the host)."""
    reason: str = ""
    """Why the plain mode was used."""
    clients: list[dict[str, Any]] = field(default_factory=list)
    forwarder_peers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Client name -> the peer addresses its forwarder accepted (netns mode)."""
    machines: list[Machine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final: dict[str, str] = field(default_factory=dict)
    """Budget (X, Y) -> spent_usd after both clients ended (each client adds 1.00 to both budgets it locks)."""

    @property
    def victims(self) -> list[str]:
        return [c["name"] for c in self.clients if c.get("outcome") == "deadlock victim"]

    @property
    def committed(self) -> list[str]:
        return [c["name"] for c in self.clients if c.get("outcome") == "committed"]

    @property
    def source_addresses(self) -> dict[str, str]:
        """Client name -> the address its connection left from (its socket's local address)."""
        return {c["name"]: c["local_addr"] for c in self.clients if "local_addr" in c}

    @property
    def proved(self) -> bool:
        return len(self.victims) == 1 and len(self.committed) == 1 and not self.problems

    def report(self) -> str:
        lines = [f"two-computer deadlock, mode {self.mode}" + (f" ({self.reason})" if self.reason else "")]
        for m in self.machines:
            lines.append(
                f"  computer {m.name}: namespace {m.namespace}, {m.ns_if} {m.ns_ip}/30 <-> host {m.host_if}"
                f" {m.host_ip}/30"
            )
        for c in sorted(self.clients, key=lambda c: c["name"]):
            peers = ", ".join(f"{h}:{p}" for h, p in self.forwarder_peers.get(c["name"], []))
            outcome = c.get("outcome", "no report")
            if c.get("sqlstate"):
                outcome += f" ({c['sqlstate']}: {c.get('error')})"
            lines.append(
                f"  client {c['name']}: own address {c.get('local_addr')}:{c.get('local_port')}"
                + (f", forwarder saw {peers}" if peers else "")
                + f", server saw {c.get('server_sees_client')} (backend pid {c.get('backend_pid')})"
                f"; locked budget {c['first']} then {c['second']}: {outcome} after waiting {c.get('waited_s')} s"
            )
        if self.final:
            lines.append(
                "  final spent_usd: " + ", ".join(f"{n} {v}" for n, v in self.final.items()) + " (start 100.00)"
            )
        for p in self.problems:
            lines.append(f"  problem: {p}")
        lines.append(
            f"  result: victims {self.victims or 'none'}, committed {self.committed or 'none'} ->"
            f" {'one victim, one commit' if self.proved else 'NOT the expected outcome'}"
        )
        return "\n".join(lines)


def _client_command(
    prefix: list[str], name: str, dsn: str, first: int, second: int, barrier: Path, peer: str, deadlock_timeout: str
) -> list[str]:
    return [
        *prefix,
        sys.executable,
        "-m",
        "generators.netns_deadlock",
        "--client",
        "--name",
        name,
        "--dsn",
        dsn,
        "--first",
        str(first),
        "--second",
        str(second),
        "--barrier-dir",
        str(barrier),
        "--peer",
        peer,
        "--deadlock-timeout",
        deadlock_timeout,
    ]


def _run_clients(commands: dict[str, list[str]]) -> tuple[list[dict[str, Any]], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, cmd in commands.items()
    }
    reports, problems = [], []
    try:
        deadline = time.monotonic() + CLIENT_TIMEOUT
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problems.append(f"client {name} did not finish within {CLIENT_TIMEOUT:g} s")
                continue
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                tail = (err.strip().splitlines() or ["no output"])[-1]
                problems.append(f"client {name} exited with {proc.returncode}: {tail}")
                continue
            reports.append(json.loads(lines[-1]))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    return reports, problems


def run(dsn: str, *, plain: bool = False) -> DeadlockRun:
    """Run the two-client deadlock against the database `dsn` (sales schema deployed); tear everything down."""
    import psycopg.conninfo

    from generators.concurrency_pg import fixture_rows

    reason = "plain mode asked for (--plain)" if plain else netns_unavailable()
    names = ("A", "B")
    # A keeps the server's deadlock_timeout long, B short: B detects the cycle and is the victim.
    timeouts = {"A": "5s", "B": "200ms"}
    with fixture_rows(dsn) as fx, tempfile.TemporaryDirectory(prefix="ps-netns-barrier-") as tmp:
        barrier = Path(tmp)
        # The clients run as this same user (root in netns mode): the private 0700 directory is enough.
        order = {"A": (fx.budgets["X"], fx.budgets["Y"]), "B": (fx.budgets["Y"], fx.budgets["X"])}
        if reason is not None:
            result = DeadlockRun("plain", reason=reason)
            commands = {n: _client_command([], n, dsn, *order[n], barrier, _other(n), timeouts[n]) for n in names}
            result.clients, result.problems = _run_clients(commands)
            result.final = _final(dsn, fx.budgets)
            return _judge(result)
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        target = (str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
        forwarders: dict[str, Forwarder] = {}
        result = DeadlockRun("netns")
        try:
            with machines(names) as built:
                result.machines = list(built)
                commands = {}
                for m in built:
                    fwd = Forwarder(m.host_ip, target)
                    forwarders[m.name] = fwd
                    client_dsn = psycopg.conninfo.make_conninfo(dsn, host=fwd.address[0], port=str(fwd.address[1]))
                    prefix = ["ip", "netns", "exec", m.namespace]
                    commands[m.name] = _client_command(
                        prefix, m.name, client_dsn, *order[m.name], barrier, _other(m.name), timeouts[m.name]
                    )
                result.clients, result.problems = _run_clients(commands)
                result.forwarder_peers = {n: list(f.peers) for n, f in forwarders.items()}
        finally:
            for fwd in forwarders.values():
                fwd.close()
        result.final = _final(dsn, fx.budgets)
        return _judge(result)


def _final(dsn: str, budgets: dict[str, int]) -> dict[str, str]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT budget_id, spent_usd FROM portal.budgets WHERE budget_id IN (%s, %s)", (budgets["X"], budgets["Y"])
        ).fetchall()
    names = {i: n for n, i in budgets.items()}
    return {names[int(r[0])]: str(r[1]) for r in sorted(rows)}


def _other(name: str) -> str:
    return "B" if name == "A" else "A"


def _judge(result: DeadlockRun) -> DeadlockRun:
    if len(result.clients) != 2:
        result.problems.append(f"{len(result.clients)} client report(s), expected 2")
    if result.mode == "netns":
        by_name = {m.name: m for m in result.machines}
        for c in result.clients:
            m = by_name.get(c["name"])
            if m is not None and c.get("local_addr") != m.ns_ip:
                result.problems.append(f"client {c['name']} left from {c.get('local_addr')}, not {m.ns_ip}")
            seen = [h for h, _ in result.forwarder_peers.get(c["name"], [])]
            if m is not None and seen and set(seen) != {m.ns_ip}:
                result.problems.append(f"the forwarder of {c['name']} saw {seen}, not {m.ns_ip}")
    return result


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.netns_deadlock", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="a database with the sales schema (default: a scratch database)")
    parser.add_argument("--plain", action="store_true", help="two plain processes, no namespaces")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--second", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--barrier-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--deadlock-timeout", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        report = client(
            args.name, args.dsn, args.first, args.second, args.barrier_dir, args.peer, args.deadlock_timeout
        )
        out(json.dumps(report))
        return 0
    if args.dsn:
        result = run(args.dsn, plain=args.plain)
    else:
        from generators.concurrency_pg import scratch_database

        with scratch_database(PG_ADMIN_URL) as dsn:
            result = run(dsn, plain=args.plain)
    out(result.report())
    return 0 if result.proved else 1


if __name__ == "__main__":
    sys.exit(main())
