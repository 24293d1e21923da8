"""The T-SQL batch splitter: GO lines separate batches, and nothing around them is lost."""

from __future__ import annotations

from generators.deploy import split_batches


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
