"""The T-SQL deploy path: GO splits batches without losing anything, and deploy-time secrets never leak."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from generators.deploy import DeployError, apply_tsql_file, secret_names, split_batches


def test_go_separates_batches_and_keeps_the_comment_that_opens_the_next_one() -> None:
    script = "CREATE TABLE a (id int);\nGO\n\n-- b holds the second table\nCREATE TABLE b (id int);\ngo -- done\n"
    assert list(split_batches(script)) == [
        "CREATE TABLE a (id int);\n",
        "-- b holds the second table\nCREATE TABLE b (id int);\n",
    ]


def test_go_must_stand_alone_on_its_line() -> None:
    script = "SELECT 'GO' AS word;\nSELECT 1 AS GOAL;\nGO\n"
    assert list(split_batches(script)) == ["SELECT 'GO' AS word;\nSELECT 1 AS GOAL;\n"]


def test_comment_only_batches_are_dropped() -> None:
    assert list(split_batches("-- header\nGO\n-- nothing here\nGO\nSELECT 1;\n")) == ["SELECT 1;\n"]


class LateErrorCursor:
    """Like pytds: a batch's second statement fails only when its result is read (nextset)."""

    def __init__(self) -> None:
        self.pending = 0

    def execute(self, batch: str) -> None:
        self.pending = batch.count(";")

    def nextset(self) -> bool:
        self.pending -= 1
        if self.pending == 0:
            raise RuntimeError("Violation of PRIMARY KEY constraint 'pk_channels'")
        return self.pending > 0

    def close(self) -> None:
        pass


class LateErrorConnection:
    def __init__(self) -> None:
        self.committed = self.rolled_back = False

    def cursor(self) -> LateErrorCursor:
        return LateErrorCursor()

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.rolled_back = True


def test_an_error_in_a_later_result_of_a_batch_fails_the_file(tmp_path: Path) -> None:
    (tmp_path / "f.sql").write_text("INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\nGO\n")
    conn = LateErrorConnection()
    with pytest.raises(DeployError, match=r"f\.sql: Violation of PRIMARY KEY"):
        apply_tsql_file(conn, "ads", "f.sql", root=tmp_path)
    assert conn.rolled_back and not conn.committed


# --------------------------------------------------------------------------- deploy-time secrets


class RecordingCursor:
    """A DB-API cursor double that records what would reach the server, and fails on a chosen batch."""

    def __init__(self, log: list[tuple[str, Any]], fail_on: str | None) -> None:
        self.log, self.fail_on = log, fail_on
        self.description = None
        self.messages: list[Any] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.log.append((sql, params))
        if self.fail_on and self.fail_on in sql:
            raise RuntimeError("Cannot find the certificate 'PromptCrmColumnCert'")

    def nextset(self) -> bool:
        return False

    def fetchall(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class RecordingConnection:
    def __init__(self, fail_on: str | None = None) -> None:
        self.log: list[tuple[str, Any]] = []
        self.fail_on = fail_on
        self.autocommit = False

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self.log, self.fail_on)

    def commit(self) -> None:
        self.log.append(("COMMIT", None))

    def rollback(self) -> None:
        self.log.append(("ROLLBACK", None))


SECRET_FILE = (
    "-- deploy: no-transaction\n"
    "-- deploy: secrets PROMPTCRM_MASTER_KEY_PASSWORD PROMPTCRM_HMAC_SECRET?\n"
    "DECLARE @p NVARCHAR(4000) = CONVERT(NVARCHAR(4000), SESSION_CONTEXT(N'PROMPTCRM_MASTER_KEY_PASSWORD'));\n"
    "GO\nCREATE CERTIFICATE c WITH SUBJECT = N'x';\nGO\n"
)


def test_declared_names_are_read_in_order_with_optional_ones_marked() -> None:
    assert secret_names(SECRET_FILE) == [("PROMPTCRM_MASTER_KEY_PASSWORD", True), ("PROMPTCRM_HMAC_SECRET", False)]
    with pytest.raises(DeployError, match="invalid name 'lower_case'"):
        secret_names("-- deploy: secrets lower_case\n")


def test_secrets_go_into_the_session_context_as_parameters_and_are_cleared_afterwards(tmp_path: Path) -> None:
    (tmp_path / "f.sql").write_text(SECRET_FILE)
    conn = RecordingConnection()
    value = "correct horse 'battery' staple"
    apply_tsql_file(conn, "crm", "f.sql", root=tmp_path, env={"PROMPTCRM_MASTER_KEY_PASSWORD": value})
    sets = [params for sql, params in conn.log if "sp_set_session_context" in sql]
    # Only the variable that is set is sent (the optional one is not), as a parameter, then cleared with NULL.
    assert sets == [("PROMPTCRM_MASTER_KEY_PASSWORD", value), ("PROMPTCRM_MASTER_KEY_PASSWORD", None)]
    assert conn.log[0][0].startswith("EXEC sys.sp_set_session_context")
    assert conn.log[-1][1] == ("PROMPTCRM_MASTER_KEY_PASSWORD", None)
    assert not any(value in sql for sql, _ in conn.log), "the secret must never be part of a statement's text"


def test_a_missing_secret_fails_before_anything_is_sent_naming_the_variable(tmp_path: Path) -> None:
    (tmp_path / "f.sql").write_text(SECRET_FILE)
    conn = RecordingConnection()
    with pytest.raises(DeployError, match=r"crm: f\.sql: needs the environment variable\(s\) PROMPTCRM_MASTER_KEY"):
        apply_tsql_file(conn, "crm", "f.sql", root=tmp_path, env={})
    assert conn.log == []


def test_secrets_are_cleared_when_a_batch_fails_and_the_error_does_not_carry_them(tmp_path: Path) -> None:
    (tmp_path / "f.sql").write_text(SECRET_FILE)
    conn = RecordingConnection(fail_on="CREATE CERTIFICATE")
    value = "s3cret-value-from-the-vault"
    with pytest.raises(DeployError) as caught:
        apply_tsql_file(conn, "crm", "f.sql", root=tmp_path, env={"PROMPTCRM_MASTER_KEY_PASSWORD": value})
    assert value not in str(caught.value) and "Cannot find the certificate" in str(caught.value)
    assert conn.log[-1] == (
        "EXEC sys.sp_set_session_context @key = %s, @value = %s;",
        (secret_names(SECRET_FILE)[0][0], None),
    )


def test_every_rendered_file_declares_each_session_context_secret_it_reads(root: Path) -> None:
    """A file that reads SESSION_CONTEXT(N'NAME') for a secret must declare NAME, or the deploy never sets it."""
    for path in sorted((root / "sql").rglob("*.sql")):
        text = path.read_text()
        read = set(re.findall(r"SESSION_CONTEXT\(N'([A-Z][A-Z0-9_]+)'\)", text))
        declared = {name for name, _ in secret_names(text)}
        assert read <= declared, f"{path.relative_to(root)} reads {sorted(read - declared)} without declaring them"
