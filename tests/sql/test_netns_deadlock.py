"""A deadlock between two client processes on two network namespaces (two "computers") and one PostgreSQL."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from generators import netns_deadlock as nd

pytestmark = pytest.mark.postgres


def assert_one_victim_one_commit(result: nd.DeadlockRun) -> None:
    assert result.proved, result.report()
    assert result.victims == ["B"] and result.committed == ["A"]  # B has the short deadlock_timeout
    victim = next(c for c in result.clients if c["name"] == "B")
    assert victim["sqlstate"] == "40P01" and victim["error"] == "deadlock detected"
    assert len({c["backend_pid"] for c in result.clients}) == 2  # two server sessions
    # The survivor's two additions of 1.00 stayed, the victim's first one was rolled back with it.
    assert result.final == {"X": "101.00", "Y": "101.00"}


def test_two_namespaces_deadlock_one_victim_one_commit_from_two_source_addresses(sales_db: str) -> None:
    reason = nd.netns_unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable here: {reason}")
    result = nd.run(sales_db)

    assert result.mode == "netns" and result.reason == ""
    assert_one_victim_one_commit(result)
    machines = {m.name: m for m in result.machines}
    sources = result.source_addresses
    # Two computers: each client left from its own namespace's address, and they differ.
    assert sources == {"A": machines["A"].ns_ip, "B": machines["B"].ns_ip}
    assert sources["A"] != sources["B"] and all(ip.startswith("10.250.") for ip in sources.values())
    # The forwarder in the host namespace saw exactly those peers (address and port) ...
    for c in result.clients:
        assert result.forwarder_peers[c["name"]] == [(c["local_addr"], c["local_port"])]
    # ... while the server saw both arrive from loopback, through the forwarder.
    assert {c["server_sees_client"].split(":")[0] for c in result.clients} == {"127.0.0.1"}
    # Everything was torn down: no namespace, no veth of the run is left.
    assert nd.leftovers() == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert all(m.host_if not in links for m in result.machines)
    assert "one victim, one commit" in result.report() and "forwarder saw 10.250." in result.report()


def test_forced_fallback_runs_two_plain_processes_and_says_why(sales_db: str) -> None:
    result = nd.run(sales_db, plain=True)

    assert result.mode == "plain" and result.reason == "plain mode asked for (--plain)"
    assert_one_victim_one_commit(result)
    assert result.machines == [] and result.forwarder_peers == {}
    assert set(result.source_addresses.values()) == {"127.0.0.1"}
    assert "mode plain (plain mode asked for (--plain))" in result.report()


def test_without_root_the_parent_falls_back_and_prints_the_reason(
    sales_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nd.os, "geteuid", lambda: 1000)
    assert nd.netns_unavailable() == "not root: creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN"
    result = nd.run(sales_db)

    assert result.mode == "plain" and result.reason.startswith("not root")
    assert_one_victim_one_commit(result)
    assert "mode plain (not root:" in result.report()


def test_the_demo_rows_are_removed_after_the_run(sales_db: str) -> None:
    with psycopg.connect(sales_db) as conn:
        before = conn.execute("SELECT count(*) FROM portal.budgets").fetchone()
    result = nd.run(sales_db, plain=True)
    assert result.proved
    with psycopg.connect(sales_db) as conn:
        assert conn.execute("SELECT count(*) FROM portal.budgets").fetchone() == before
