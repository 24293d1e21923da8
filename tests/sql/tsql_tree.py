"""Reading rendered T-SQL through sqlfluff's tsql parse tree, for the structural tests of the SQL Server stores.

No SQL Server runs here, so the scripts are read through sqlfluff's tsql parse tree (configured like the grammar
gate, which separately proves every batch parses in full - tests/sql/test_tsql_gate.py). Looking at the tree
rather than the text means a construct counts only where it is SQL, never where a comment mentions it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.parser import BaseSegment

from generators.deploy import split_batches
from generators.gates import mask_allowlisted

CHANGE_STATEMENTS = (
    "insert_statement",
    "update_statement",
    "delete_statement",
    "merge_statement",
    "create_table_statement",
    "drop_table_statement",
    "alter_table_statement",
    "create_index_statement",
    "truncate_table_statement",
)


@functools.cache
def _linter() -> Linter:
    # The same configuration as generators.gates: the rendered SQL is final text, so the raw templater.
    return Linter(config=FluffConfig(overrides={"dialect": "tsql", "templater": "raw"}))


@functools.cache
def tree_of_text(text: str, name: str) -> BaseSegment:
    """The parse tree of a whole rendered script; fails if any part of it did not parse.

    Statements of the gate's allowlist (CREATE CERTIFICATE, BACKUP DATABASE, ...), which sqlfluff cannot parse,
    are masked first exactly as the gate masks them; tests check those by their text.
    """
    parsed = _linter().parse_string(mask_allowlisted(text))
    tree = parsed.parsed_variants[0].tree if parsed.parsed_variants else None
    assert tree is not None, f"{name}: sqlfluff produced no parse tree"
    unparsable = [seg.raw[:60] for seg in tree.recursive_crawl("unparsable")]
    assert not unparsable and not parsed.violations, f"{name}: not fully parsed: {unparsable or parsed.violations}"
    return tree


def crawl(segment: BaseSegment, *types: str) -> list[BaseSegment]:
    """Every descendant of one of `types`, in the order they appear in the file."""
    found = list(segment.recursive_crawl(*types))
    return sorted(found, key=lambda s: s.pos_marker.source_slice.start if s.pos_marker else 0)


def code(segment: BaseSegment) -> str:
    """The segment's SQL without comments, one space between tokens (none around a dot), upper-cased."""
    parts = [s.raw for s in segment.raw_segments if s.raw and not s.is_comment and not s.is_whitespace]
    text = re.sub(r" ?\. ?", ".", " ".join(parts))
    return re.sub(r"([<>!]) ([=>])", r"\1\2", text).upper()  # sqlfluff lexes >= and <> as two tokens


def code_children(segment: BaseSegment) -> list[BaseSegment]:
    return [s for s in segment.segments if s.is_code]


def function_name(function: BaseSegment) -> str:
    """LOWER, DATEADD, SYS.DM_EXEC_SQL_TEXT: the called name, schema included, upper-cased."""
    name = function.get_child("function_name")
    return code(name) if name else ""


def functions(segment: BaseSegment, name: str) -> list[BaseSegment]:
    return [f for f in crawl(segment, "function") if function_name(f) == name.upper()]


def arguments(function: BaseSegment) -> list[str]:
    """The code of each comma-separated argument of a function call, date parts included."""
    contents = function.get_child("function_contents")
    bracketed = contents.get_child("bracketed") if contents else None
    if bracketed is None:
        return []
    args: list[list[str]] = [[]]
    for seg in code_children(bracketed):
        if seg.is_type("comma"):
            args.append([])
        elif not seg.is_type("start_bracket", "end_bracket"):
            args[-1].append(code(seg))
    return [" ".join(arg) for arg in args if arg]


def table_name(reference: BaseSegment) -> str:
    """ads.campaigns, #audience_feed, @closed: a table or table-variable reference as written, lower-cased."""
    return code(reference).lower()


def is_temporary(name: str) -> bool:
    """#temp tables (gone with the session) and @table variables (gone with the batch) change nothing in PromptAds."""
    return name.startswith(("#", "@"))


def statements(tree: BaseSegment) -> list[BaseSegment]:
    """The innermost statements in file order (those inside IF/BEGIN...END blocks included)."""
    return [s for s in crawl(tree, "statement") if next(s.recursive_crawl("statement", allow_self=False), None) is None]


def aliases(statement: BaseSegment) -> dict[str, str]:
    """alias -> table name for every aliased table in a statement's FROM clauses (derived tables' included)."""
    mapping: dict[str, str] = {}
    for element in crawl(statement, "from_expression_element"):
        reference = next(element.recursive_crawl("table_reference"), None)
        alias = element.get_child("alias_expression")
        if reference is not None and alias is not None:
            mapping[code(alias).removeprefix("AS ").lower()] = table_name(reference)
    return mapping


def change_target(statement: BaseSegment) -> str:
    """The table an INSERT/UPDATE/DELETE/MERGE/DDL statement changes, with UPDATE alias resolved via FROM."""
    if statement.is_type("update_statement", "delete_statement"):
        reference = statement.get_child("table_reference")
        if reference is not None:
            name = table_name(reference)
            return aliases(statement).get(name, name)
    for child in code_children(statement):
        if child.type in ("table_reference", "object_reference", "parameter"):  # not is_type: index names match it
            return table_name(child)
    raise AssertionError(f"no target found in {code(statement)[:80]}")


def changes_in_order(tree: BaseSegment) -> Iterator[tuple[str, BaseSegment]]:
    """("begin" | "commit" | "rollback" | "change", segment) in file order; changes to temporary tables skipped."""
    for segment in crawl(tree, "transaction_statement", *CHANGE_STATEMENTS):
        if segment.is_type("transaction_statement"):
            yield code(segment).split()[0].lower(), segment
        elif not is_temporary(change_target(segment)):
            yield "change", segment


# --------------------------------------------------------------------------- text helpers


def procedures(text: str) -> dict[str, str]:
    """Every CREATE OR ALTER PROCEDURE batch of a rendered file, by qualified name."""
    found = {}
    for batch in split_batches(text):
        match = re.search(r"^CREATE OR ALTER PROCEDURE (\w+\.\w+)", batch, re.M)
        if match:
            found[match.group(1)] = batch
    return found


def ordered(text: str, *patterns: str) -> list[int]:
    """Positions of each pattern, asserting each occurs and they occur in this order."""
    positions = []
    for pattern in patterns:
        match = re.search(pattern, text[positions[-1] if positions else 0 :], re.M)
        assert match, f"missing, or out of order: {pattern}"
        positions.append((positions[-1] if positions else 0) + match.start())
    return positions
