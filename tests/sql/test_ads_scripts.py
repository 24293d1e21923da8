"""The explanatory PromptAds T-SQL scripts, structurally: each one does in SQL what its header says it teaches.

No SQL Server runs here, so the scripts are read through sqlfluff's tsql parse tree (configured like the grammar
gate, which separately proves every batch parses in full - tests/sql/test_tsql_gate.py). Looking at the tree
rather than the text means a construct counts only where it is SQL, never where a comment mentions it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.parser import BaseSegment

from generators.model import StoreModel, load_model

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "sql" / "manifest.json").read_text(encoding="utf-8"))["stores"]["ads"]
TEACHING_ORDER = [
    "01_except",
    "02_intersect",
    "03_merge",
    "04_ltrim",
    "05_lower",
    "06_floor_ceiling",
    "07_update_from_select",
    "08_brand_sentiment_drop",
    "09_query_monitoring",
]
# The scripts that change permanent tables (inside a transaction they roll back); every other one must not.
DATA_CHANGING = {"03_merge", "07_update_from_select"}
HEADER_SECTIONS = ["-- Concept:", "-- Business question:", "-- What to observe:", "-- Leaves no changes"]
STEP_MARKER = re.compile(r"^-- Step (\d+):", re.MULTILINE)
OBSERVED_STEP = re.compile(r"^--\s+step (\d+)\b", re.MULTILINE)
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


@pytest.fixture(scope="module")
def model() -> StoreModel:
    return load_model(ROOT / "model" / "ads.yaml", root=ROOT)


def path_of(name: str) -> Path:
    return ROOT / "sql" / "ads" / "scripts" / f"{name}.sql"


def text_of(name: str) -> str:
    return path_of(name).read_text(encoding="utf-8")


@functools.cache
def _linter() -> Linter:
    # The same configuration as generators.gates: the rendered SQL is final text, so the raw templater.
    return Linter(config=FluffConfig(overrides={"dialect": "tsql", "templater": "raw"}))


@functools.cache
def tree_of(name: str) -> BaseSegment:
    """The parse tree of a whole rendered script; fails if any part of it did not parse."""
    parsed = _linter().parse_string(text_of(name))
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


# --------------------------------------------------------------------------- the manifest and the headers


def test_the_manifest_lists_exactly_the_scripts_in_teaching_order_and_deploys_none(model: StoreModel) -> None:
    """sql/manifest.json names the nine scripts in teaching order, each rendered from the model, none deployed."""
    expected = [f"sql/ads/scripts/{name}.sql" for name in TEACHING_ORDER]
    assert MANIFEST["scripts"] == expected
    assert not set(MANIFEST["deploy"]) & set(expected)
    assert all("/scripts/" not in rel for rel in MANIFEST["deploy"])
    assert [s.name for s in model.scripts] == TEACHING_ORDER
    for script in model.scripts:
        assert (ROOT / "templates" / "tsql" / script.template).is_file()
        assert path_of(script.name).is_file()


@pytest.mark.parametrize("name", TEACHING_ORDER)
def test_every_script_explains_itself_and_numbers_its_steps(name: str) -> None:
    """Generated header, USE PromptAds, the four teaching sections in order, and steps 1..n that the header
    describes one for one (no undocumented step, no described step missing)."""
    text = text_of(name)
    assert text.startswith("-- Code generated by generators.render from model/ads.yaml; DO NOT EDIT.\n")
    assert "\nUSE PromptAds;\nGO\n" in text
    positions = [text.find(section) for section in HEADER_SECTIONS]
    assert -1 not in positions, f"{name}: missing one of {HEADER_SECTIONS}"
    assert positions == sorted(positions), f"{name}: sections out of order"
    steps = [int(n) for n in STEP_MARKER.findall(text)]
    assert steps == list(range(1, len(steps) + 1)) and steps, f"{name}: step markers {steps}"
    observe = text[positions[2] : positions[3]]
    assert sorted({int(n) for n in OBSERVED_STEP.findall(observe)}) == steps


# --------------------------------------------------------------------------- the teaching constructs


@pytest.mark.parametrize(("name", "operator"), [("01_except", "EXCEPT"), ("02_intersect", "INTERSECT")])
def test_set_operator_scripts_combine_two_selects_over_promptads_tables(name: str, operator: str) -> None:
    """The operator stands between two SELECTs at least four times, three of them comparing PromptAds tables."""
    on_tables = 0
    uses = 0
    for expression in crawl(tree_of(name), "set_expression"):
        parts = code_children(expression)
        for i, part in enumerate(parts):
            if part.is_type("set_operator") and code(part) == operator:
                uses += 1
                left, right = parts[i - 1], parts[i + 1]
                for side in (left, right):
                    assert side.is_type("select_statement", "bracketed"), f"{operator} next to {side.type}"
                sides = [{table_name(r) for r in side.recursive_crawl("table_reference")} for side in (left, right)]
                if all(any(t.startswith(("ads.", "perf.")) for t in tables) for tables in sides):
                    on_tables += 1
    assert uses >= 4
    assert on_tables >= 3


def test_the_merge_script_upserts_and_deletes_audiences_and_outputs_action() -> None:
    """One MERGE into ads.audiences with UPDATE, INSERT and a scoped DELETE branch, whose OUTPUT has $action."""
    (merge,) = crawl(tree_of("03_merge"), "merge_statement")
    assert change_target(merge) == "ads.audiences"
    branches = {seg.type for seg in crawl(merge, "merge_update_clause", "merge_insert_clause", "merge_delete_clause")}
    assert branches == {"merge_update_clause", "merge_insert_clause", "merge_delete_clause"}
    by_source = [c for c in crawl(merge, "merge_when_not_matched_clause") if "BY SOURCE AND" in code(c)]
    assert len(by_source) == 1, "the DELETE branch must carry a condition, or it deletes every real audience"
    (output,) = crawl(merge, "output_clause")
    assert [code(a) for a in crawl(output, "action_parameter")] == ["$ACTION"]
    assert "DELETED." in code(output) and "INSERTED." in code(output)


def test_the_ltrim_script_uses_the_2022_form_after_checking_the_compatibility_level() -> None:
    """LTRIM with and without the characters argument, RTRIM and TRIM are called; the compatibility check sits
    in an earlier batch than any two-argument LTRIM, so a too-low level cannot stop the check from running."""
    tree = tree_of("04_ltrim")
    ltrim_arities = {len(arguments(f)) for f in functions(tree, "LTRIM")}
    assert {1, 2} <= ltrim_arities
    assert functions(tree, "RTRIM") and functions(tree, "TRIM")
    batches = crawl(tree, "batch")
    check = next(
        i for i, b in enumerate(batches) if "D.COMPATIBILITY_LEVEL" in {code(c) for c in crawl(b, "column_reference")}
    )
    two_argument = [i for i, b in enumerate(batches) if any(len(arguments(f)) == 2 for f in functions(b, "LTRIM"))]
    assert two_argument and min(two_argument) > check


def test_the_lower_script_contrasts_lower_on_the_column_with_sargable_forms() -> None:
    """The handle lookup is written both ways - LOWER(i.handle) = LOWER(@Handle), the scan, and the bare
    i.handle = @Handle, the seek - both measured while STATISTICS IO and TIME are on (switched on as two
    statements, since SET STATISTICS IO, TIME ON does not parse, and off again); the channel lookup lowers
    only the typed value."""
    tree = tree_of("05_lower")
    wheres = {code(w): w.pos_marker.source_slice.start for w in crawl(tree, "where_clause")}
    settings = {code(s): s.pos_marker.source_slice.start for s in crawl(tree, "set_segment")}
    assert "WHERE CH.CHANNEL_CODE = LOWER ( @CHANNELINPUT )" in wheres
    for lookup in ("WHERE LOWER ( I.HANDLE ) = LOWER ( @HANDLE )", "WHERE I.HANDLE = @HANDLE"):
        assert lookup in wheres
        for option in ("IO", "TIME"):
            assert settings[f"SET STATISTICS {option} ON"] < wheres[lookup] < settings[f"SET STATISTICS {option} OFF"]


def test_the_floor_ceiling_script_applies_both_to_promptads_figures() -> None:
    """FLOOR and CEILING are each applied in statements that read campaigns or daily results."""
    tree = tree_of("06_floor_ceiling")
    for name in ("FLOOR", "CEILING"):
        reading = [
            s
            for s in statements(tree)
            if functions(s, name)
            and any(
                table_name(r) in {"ads.campaigns", "perf.daily_results"} for r in s.recursive_crawl("table_reference")
            )
        ]
        assert len(reading) >= 2, name


def test_the_update_script_updates_through_a_join_to_an_aggregated_select() -> None:
    """UPDATE ... FROM ... JOIN twice: ads.campaigns joined to a GROUP BY derived table, and a scorecard joined to
    a CTE that aggregates daily results."""
    tree = tree_of("07_update_from_select")
    derived, cte = [], []
    for statement in statements(tree):
        for update in crawl(statement, "update_statement"):
            assert update.get_child("from_clause") is not None, "UPDATE without FROM"
            ctes = {
                code(c.get_child("naked_identifier")).lower(): c for c in crawl(statement, "common_table_expression")
            }
            for join in crawl(update, "join_clause"):
                element = join.get_child("from_expression_element")
                table = element.get_child("table_expression") if element else None
                source = table.get_child("bracketed") if table else None
                if source is not None and crawl(source, "groupby_clause"):
                    derived.append(change_target(update))
                reference = table.get_child("table_reference") if table else None
                name = table_name(reference) if reference is not None else ""
                if name in ctes and crawl(ctes[name], "groupby_clause"):
                    cte.append(change_target(update))
    assert derived == ["ads.campaigns"]
    assert cte == ["#campaign_scorecard"]


# --------------------------------------------------------------------------- leaving no changes


@pytest.mark.parametrize("name", TEACHING_ORDER)
def test_changes_to_promptads_tables_only_happen_inside_a_rolled_back_transaction(name: str) -> None:
    """Each change to a permanent table sits between BEGIN TRANSACTION and ROLLBACK TRANSACTION, nothing is ever
    committed, SET XACT_ABORT ON precedes the transaction, and every #temp table created is dropped again."""
    tree = tree_of(name)
    depth, changed = 0, 0
    for kind, segment in changes_in_order(tree):
        assert kind != "commit", f"{name}: commits at line {segment.pos_marker.line_no}"
        if kind == "begin":
            depth += 1
        elif kind == "rollback":
            assert depth > 0, f"{name}: ROLLBACK without a transaction"
            depth = 0
        else:
            changed += 1
            assert depth > 0, f"{name}: line {segment.pos_marker.line_no} changes a table outside a transaction"
    assert depth == 0, f"{name}: a transaction is left open"
    assert (changed > 0) == (name in DATA_CHANGING)
    if changed:
        settings = [(code(s), s.pos_marker.source_slice.start) for s in crawl(tree, "set_segment")]
        first_begin = next(s for k, s in changes_in_order(tree) if k == "begin").pos_marker.source_slice.start
        assert any(text == "SET XACT_ABORT ON" and at < first_begin for text, at in settings)
    created = {table_name(next(s.recursive_crawl("table_reference"))) for s in crawl(tree, "create_table_statement")}
    dropped = {table_name(next(s.recursive_crawl("table_reference"))) for s in crawl(tree, "drop_table_statement")}
    assert all(is_temporary(t) for t in created)
    assert created <= dropped


# --------------------------------------------------------------------------- the brand-sentiment query


def sentiment_query() -> BaseSegment:
    """The report: the script's one WITH statement."""
    (query,) = crawl(tree_of("08_brand_sentiment_drop"), "with_compound_statement")
    return query


def final_select(query: BaseSegment) -> BaseSegment:
    return next(s for s in code_children(query) if s.is_type("select_statement"))


def select_elements(select: BaseSegment) -> dict[str, BaseSegment]:
    """Output column name -> its select element: the alias, or the column's own name when it has none."""
    clause = select.get_child("select_clause")
    named = {}
    for element in clause.get_children("select_clause_element"):
        alias = element.get_child("alias_expression")
        column = element.get_child("column_reference")
        if alias is not None:
            named[code(alias).removeprefix("AS ").lower()] = element
        elif column is not None:
            named[code(column).rsplit(".", 1)[-1].lower()] = element
    return named


def test_the_sentiment_query_declares_its_parameters_before_any_query() -> None:
    """@BrandId, @BrandName, @From and @To are the first DECLAREs, ahead of every SELECT or WITH."""
    tree = tree_of("08_brand_sentiment_drop")
    body = [s for s in statements(tree) if not code(s).startswith(("USE ", "SET "))]
    declared = []
    for statement in body:
        if not crawl(statement, "declare_segment"):
            break
        declared.append(code(crawl(statement, "parameter")[0]))
    assert declared[:4] == ["@BRANDID", "@BRANDNAME", "@FROM", "@TO"]


def test_the_sentiment_query_compares_with_the_preceding_period_of_equal_length() -> None:
    """The period length is DATEDIFF(day, @From, @To) + 1 and the preceding period starts DATEADD(day, -length,
    @From); the reactions CTE reads from that start to the end of the chosen period."""
    tree = tree_of("08_brand_sentiment_drop")
    length_vars = [
        code(crawl(d, "parameter")[0])
        for d in crawl(tree, "declare_segment")
        for f in functions(d, "DATEDIFF")
        if arguments(f) == ["DAY", "@FROM", "@TO"]
    ]
    assert len(length_vars) == 1
    starts = [
        code(crawl(d, "parameter")[0])
        for d in crawl(tree, "declare_segment")
        for f in functions(d, "DATEADD")
        if arguments(f) == ["DAY", f"- {length_vars[0]}", "@FROM"]
    ]
    assert len(starts) == 1
    # The datetime bound is derived from the date one, and the query filters on the datetime bound.
    derived = [
        code(crawl(d, "parameter")[0]) for d in crawl(tree, "declare_segment") if code(d).endswith(f"= {starts[0]}")
    ]
    wheres = " ".join(code(w) for w in crawl(sentiment_query(), "where_clause"))
    assert any(f"R.REACTED_AT >= {bound}" in wheres for bound in [starts[0], *derived])


def test_the_sentiment_drop_is_null_safe_and_the_report_starts_with_the_biggest_drop() -> None:
    """reaction_drop_pct divides (previous - current) by NULLIF(previous, 0); ORDER BY starts with it, DESC."""
    select = final_select(sentiment_query())
    drop = select_elements(select)["reaction_drop_pct"]
    assert "( IT.PREVIOUS_REACTIONS - IT.CURRENT_REACTIONS )" in code(drop)
    assert [arguments(f) for f in functions(drop, "NULLIF")] == [["IT.PREVIOUS_REACTIONS", "0"]]
    order = select.get_child("orderby_clause")
    assert code(order).startswith("ORDER BY REACTION_DROP_PCT DESC")


def test_the_sentiment_report_shows_channel_influencer_and_kind_of_negative_sentiment() -> None:
    """The report names channel and influencer, the dominant negative_kind and the breakdown, negative counts and
    share; negative_kind comes from perf.social_reactions; every table in the query has an explicit alias."""
    query = sentiment_query()
    columns = set(select_elements(final_select(query)))
    assert {
        "channel",
        "influencer",
        "dominant_negative_kind",
        "negative_kind_breakdown",
        "ad_negative_reactions",
        "ad_negative_pct",
        "influencer_negative_reactions",
        "reaction_drop_pct",
    } <= columns
    assert "R.NEGATIVE_KIND" in {code(c) for c in crawl(query, "column_reference")}
    assert len(crawl(query, "common_table_expression")) >= 5
    ctes = {code(c.get_child("naked_identifier")).lower() for c in crawl(query, "common_table_expression")}
    for element in crawl(query, "from_expression_element"):
        assert element.get_child("alias_expression") is not None, f"no alias: {code(element)}"
    tables = {table_name(r) for r in crawl(query, "table_reference")} - ctes
    assert tables == {"ads.campaigns", "ads.ads", "perf.social_reactions", "ads.influencers", "ads.channels"}


@pytest.mark.parametrize(
    "index", ["ix_campaigns_brand_period", "ix_social_reactions_ad_time", "ix_social_reactions_influencer_time"]
)
def test_the_indexes_the_sentiment_header_names_exist_and_their_keys_are_filtered_on(
    model: StoreModel, index: str
) -> None:
    """Each index the header credits is in the model, and the query filters or joins on every key column of it
    (and repeats a filtered index's predicate, without which the optimizer cannot use that index)."""
    header = text_of("08_brand_sentiment_drop").split("-- What to observe:")[0]
    assert index in header
    (found,) = [i for t in model.tables for i in t.indexes if i.name == index]
    predicates = " ".join(code(s) for s in crawl(sentiment_query(), "where_clause", "join_on_condition"))
    for column in found.columns:
        assert re.search(rf"\b\w+\.{column.upper()}\b", predicates), f"{index}: nothing filters on {column}"
    if found.where:
        assert found.where.upper() in predicates


# --------------------------------------------------------------------------- query-performance monitoring

MONITORED = {
    "sys.query_store_query",
    "sys.query_store_plan",
    "sys.query_store_runtime_stats",
    "sys.query_store_query_text",
    "sys.dm_exec_query_stats",
    "sys.dm_exec_sql_text",
    "sys.dm_os_wait_stats",
    "sys.dm_db_missing_index_details",
    "sys.dm_db_missing_index_groups",
    "sys.dm_db_missing_index_group_stats",
    "sys.dm_exec_requests",
    "sys.dm_exec_sessions",
}


def test_the_monitoring_script_reads_every_query_store_view_and_dmv() -> None:
    """Each named view is read in a FROM clause (or called, for sys.dm_exec_sql_text via CROSS APPLY)."""
    tree = tree_of("09_query_monitoring")
    read = {table_name(r) for r in crawl(tree, "table_reference")}
    read |= {function_name(f).lower() for f in crawl(tree, "function")}
    assert read >= MONITORED, f"not read: {sorted(MONITORED - read)}"
    applied = [j for j in crawl(tree, "join_clause") if code(j).startswith("CROSS APPLY SYS.DM_EXEC_SQL_TEXT")]
    assert applied


def test_the_monitoring_script_only_reads() -> None:
    """Only USE, SET NOCOUNT ON, DECLARE and queries: no DML or DDL, no EXEC (no plan forced, no statistics
    reset) and no ALTER DATABASE."""
    tree = tree_of("09_query_monitoring")
    kinds = {code_children(s)[0].type for s in statements(tree)}
    assert kinds <= {"use_statement", "set_segment", "declare_segment", "select_statement", "with_compound_statement"}
    assert {code(s) for s in crawl(tree, "set_segment")} == {"SET NOCOUNT ON"}


def test_the_monitoring_measures_are_the_ones_to_look_at() -> None:
    """Waits exclude the benign idle ones, missing indexes rank by cost x impact x (seeks + scans), and Query
    Store runtime totals weight each interval's average by its executions."""
    tree = tree_of("09_query_monitoring")
    (waits,) = [s for s in statements(tree) if "FROM SYS.DM_OS_WAIT_STATS" in code(s)]
    literals = {code(lit) for lit in crawl(waits, "quoted_literal")}
    assert {"N'SLEEP[_]%'", "N'LAZYWRITER[_]SLEEP'", "N'XE[_]%'", "N'WAITFOR'"} <= literals
    assert "NOT EXISTS ( SELECT 1 FROM BENIGN_WAITS AS B WHERE WS.WAIT_TYPE LIKE B.WAIT_PATTERN )" in code(waits)
    (missing,) = [code_children(s)[0] for s in statements(tree) if "SYS.DM_DB_MISSING_INDEX_GROUP_STATS" in code(s)]
    measure = code(select_elements(missing)["improvement_measure"])
    assert "GS.AVG_TOTAL_USER_COST * GS.AVG_USER_IMPACT * ( GS.USER_SEEKS + GS.USER_SCANS )" in measure
    weighted = [c for c in crawl(tree, "function") if code(c) == "SUM ( RS.AVG_CPU_TIME * RS.COUNT_EXECUTIONS )"]
    assert weighted
