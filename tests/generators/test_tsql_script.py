"""The T-SQL script runner: which server, which secrets, and where a failing batch is in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generators import tsql_script
from generators.tsql_script import ScriptError, batches_with_lines, run_script, store_of


class ScriptCursor:
    """A DB-API cursor double: one result set for a SELECT batch, a PRINT message, an error on 'THROW'."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.description: Any = None
        self.messages: list[Any] = []
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append((sql, params))
        self.description, self._rows, self.messages = None, [], []
        if "THROW" in sql:
            raise RuntimeError("No demo sales: run ops_02_concurrency_demo_setup first.")
        if "PRINT" in sql:
            self.messages = [(Warning, Warning("PROMPTADS: created."))]
        if "SELECT" in sql:
            self.description = [("verdict", None), ("", None)]
            self._rows = [("PASS", 1)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def nextset(self) -> bool:
        return False

    def close(self) -> None:
        pass


class ScriptConnection:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def cursor(self) -> ScriptCursor:
        return ScriptCursor(self.log)


SCRIPT = (
    "-- deploy: secrets PROMPTADS_LINKED_PASSWORD\nUSE PromptCrm;\nGO\nPRINT N'x';\nGO\n\nSELECT 1 AS verdict;\nGO\n"
)


def test_the_store_comes_from_the_folder_under_sql(root: Path) -> None:
    assert store_of(root / "sql" / "crm" / "scripts" / "x.sql") == "crm"
    assert store_of(Path("sql/ads/scripts/01_except.sql")) == "ads"
    with pytest.raises(ScriptError, match="not a rendered SQL Server file"):
        store_of(Path("sql/sales/scripts/01_coalesce.sql"))


def test_batches_know_the_line_they_start_on() -> None:
    assert [line for line, _ in batches_with_lines(SCRIPT)] == [2, 4, 7]


def test_results_and_messages_are_collected_and_secrets_set_then_cleared() -> None:
    conn = ScriptConnection()
    results = run_script(conn, SCRIPT, "s.sql", env={"PROMPTADS_LINKED_PASSWORD": "from-the-vault"})
    assert [r.messages for r in results] == [["PROMPTADS: created."], []]
    assert results[1].result_sets == [(["verdict", "column2"], [("PASS", 1)])]
    assert conn.log[0][1] == ("PROMPTADS_LINKED_PASSWORD", "from-the-vault")
    assert conn.log[-1][1] == ("PROMPTADS_LINKED_PASSWORD", None)


def test_a_failing_batch_names_its_number_and_line_and_stops_the_run() -> None:
    conn = ScriptConnection()
    script = "SELECT 1 AS a;\nGO\nTHROW 50000, N'No demo sales', 1;\nGO\nSELECT 2 AS b;\nGO\n"
    with pytest.raises(ScriptError, match=r"s\.sql: batch 2 \(line 3\): No demo sales"):
        run_script(conn, script, "s.sql", env={})
    assert not any("SELECT 2" in sql for sql, _ in conn.log)


def test_main_says_which_variable_to_set_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    monkeypatch.delenv("PROMPTSALES_CRM_URL", raising=False)
    script = root / "sql" / "crm" / "scripts" / "ops_01_write_log_test.sql"
    assert tsql_script.main([str(script)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: PROMPTSALES_CRM_URL is not set") and err.count("\n") == 1


def test_main_refuses_a_missing_secret_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    monkeypatch.setenv("PROMPTSALES_CRM_URL", "mssql://sa:pw@127.0.0.1:9/PromptCrm")
    monkeypatch.delenv("PROMPTCRM_MASTER_KEY_PASSWORD", raising=False)
    monkeypatch.setattr("generators.ads_client.connect", lambda *a, **k: pytest.fail("must not connect"))
    assert tsql_script.main([str(root / "sql" / "crm" / "045_security.sql")]) == 1
    assert "needs the environment variable(s) PROMPTCRM_MASTER_KEY_PASSWORD" in capsys.readouterr().err
