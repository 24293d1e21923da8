"""The T-SQL batch splitter: GO lines separate batches, and nothing around them is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators.deploy import DeployError, apply_tsql_file, split_batches


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
