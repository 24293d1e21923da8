"""Render the delta ETL from model/etl.yaml: each source's query, and the PostgreSQL staging and apply objects.

`generators.render.render_all` calls `render_etl` once every store is rendered. It adds:

| file | what it is |
|---|---|
| `sql/etl/<source>__<output>.sql` | T-SQL source query (PromptAds, PromptCrm): one runnable TableInput batch |
| `sql/etl/<source>__<output>.json` | MongoDB aggregation pipeline (PromptContent) for a MongoDbInput step |
| `sql/sales/100_etl_staging.sql` | staging tables, the batch header table and the per-source contribution tables |
| `sql/sales/110_etl_apply.sql` | watermark helpers, the batch check, `etl.apply_<source>`, `etl.log_failed_run` |

The query files are not deployed (Pentaho embeds their text); the two PostgreSQL files are appended to the target
store's deploy files, so the deploy DAG, the gates and the tests pick them up from the manifest.

Source query semantics. A T-SQL query declares `@WatermarkLow binary(8)` and `@WatermarkHigh binary(8)` from the
Pentaho variables `${WM_LOW}` / `${WM_HIGH}` (8-byte hex rowversions such as `0x00000000000007D1`, converted with
`CONVERT(binary(8), '...', 1)`), finds the campaigns touched in `[low, high)` (a row of a change table with
`row_ver >= @WatermarkLow AND row_ver < @WatermarkHigh`; the job takes `MIN_ACTIVE_ROWVERSION()` once before the
queries as the high bound) and returns, for each touched campaign, its aggregates recomputed over ALL its rows,
with exactly the output's fields in order. The campaign-grain output returns every touched campaign, zeroed when
its facts are gone, which is how the apply knows the whole touched set. Array fields (`text[]`) come back as a
PostgreSQL array literal (`'{facebook,tiktok}'`) and the `text[]` staging column parses it (the PostgreSQL JDBC
connection needs `stringtype=unspecified`, so the server casts the text). The MongoDB pipeline takes ISO
timestamps (`2026-01-31T12:00:00.000Z`) in the same two variables; its high bound is PostgreSQL's clock minus a
safety margin for clock skew between the writers and the job (`etl.updated_at_high_bound()`).

Public functions (the Pentaho renderer reads the embedded text through them):

    source_query(etl, models, source_name, output_name, templates_root) -> str
        The exact text of the TableInput SQL or the MongoDbInput pipeline (a JSON array) for one output.
    stage_columns(etl, source_name, output_name) -> list[tuple[str, str]]
        (column, PostgreSQL type) of the staging table etl.stage_<source>_<output>, in the query's field order;
        the table's last column, `batch_id text`, is not included (the transform adds it).
    query_path(etl, source_name, output_name) -> str
        Where the query is rendered (sql/etl/<source>__<output>.sql or .json).
    low_bound_query(etl, source_name) -> str
        PostgreSQL: `SELECT etl.watermark_low('<source>') AS watermark_low` (the inclusive low bound as text).
    high_bound_query(etl, source_name) -> tuple[str, str]
        (store it runs on, query): MIN_ACTIVE_ROWVERSION() on the SQL Server, or etl.updated_at_high_bound() on
        PostgreSQL for a MongoDB source.
    batch_header_sql(etl, source_name, batch_id="${BATCH_ID}", low="${WM_LOW}", high="${WM_HIGH}") -> str
        The INSERT of the batch header, written after the staged rows (the counts are taken from staging).
    apply_sql(etl, source_name) / failure_sql(etl, source_name) -> str
        `CALL etl.apply_<source>('${BATCH_ID}', '${AIRFLOW_RUN_ID}');` and, for the job's failure path,
        `CALL etl.log_failed_run('<source>', '${BATCH_ID}', '${AIRFLOW_RUN_ID}');`.
    etl_tables(etl) -> list[str] / etl_routines(etl) -> list[str]
        What 100_etl_staging.sql and 110_etl_apply.sql create (for catalog checks and plpgsql_check).
    etl_plan(etl, models) -> EtlPlan
        The staging, contribution and summary-refresh layout the PostgreSQL templates render.

The batch header: `etl.stage_batches (source_name, batch_id, watermark_low, watermark_high, rows_staged jsonb,
staged_at)`, one row per batch with `rows_staged = {"<output>": <rows>, ...}`, written after the batch's rows.
An apply refuses a batch without a header, whose staged counts differ from it, or whose window does not contain
the source's watermark (`low <= watermark <= high`). On failure nothing of the apply survives; the job's failure
path records the failed run with `etl.log_failed_run` (see docs/etl-apply.md).

Manifest entry (`manifest["etl"]`, beside `manifest["stores"]`):

    {"model": "model/etl.yaml", "deployed": false, "target_store": "sales", "schedule_minutes": 11,
     "deploy": ["sql/sales/100_etl_staging.sql", "sql/sales/110_etl_apply.sql"],
     "stage_batches": "etl.stage_batches",
     "sources": {"<source>": {"store": "ads", "dialect": "tsql", "marker": "rowversion",
                              "apply_procedure": "etl.apply_<source>",
                              "low_bound": {"store": "sales", "query": "..."},
                              "high_bound": {"store": "ads", "query": "..."},
                              "outputs": {"<output>": {"query": "sql/etl/<source>__<output>.sql",
                                                       "stage_table": "etl.stage_<source>_<output>",
                                                       "contribution_table": "etl.<source>_<output>",
                                                       "target": "analytics.campaign_effectiveness"}}}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from generators.model import ModelError, StoreModel, Table
from generators.model_etl import EtlModel, EtlOutput, EtlSource
from generators.render import OUTPUT_DIR, Rendered, header, make_env, pg_ident

MODEL_FILE = "model/etl.yaml"
QUERY_DIR = f"{OUTPUT_DIR}/etl"
CAMPAIGN_KEY = "campaign_id"
"""Every output is keyed by campaign: a touched campaign is the unit that is recomputed and replaced."""
BATCH_COLUMN = "batch_id"
STAGE_BATCHES = "etl.stage_batches"
FAILED_RUN_PROCEDURE = "etl.log_failed_run"
STAGING_FILE = (100, "etl_staging", "plpgsql/etl/staging.sql.j2")
APPLY_FILE = (110, "etl_apply", "plpgsql/etl/apply.sql.j2")
ROWVERSION_FLOOR = "0x0000000000000000"
"""The low bound of a rowversion source that was never applied (etl.watermark_low returns it)."""
UPDATED_AT_FLOOR = "1970-01-01T00:00:00.000Z"
"""The low bound of an updated_at source that was never applied."""
CLOCK_MARGIN = "2 minutes"
"""Default lag of a MongoDB source's high bound behind PostgreSQL's clock: covers clock skew between the writers
that set `updated_at` and the job, and writes still in flight when the job starts."""
PG_IDENTIFIER_MAX = 63

_TSQL_TYPES = {
    "smallint": "smallint",
    "integer": "int",
    "bigint": "bigint",
    "numeric": "decimal",
    "date": "date",
    "varchar": "nvarchar",
    "text": "nvarchar(max)",
    "boolean": "bit",
}


def _fail(path: str, problem: str) -> NoReturn:
    raise ModelError(MODEL_FILE, path, problem)


def tsql_type(pg_type: str) -> str:
    """The T-SQL type a source query casts a field to, so the value reaches PostgreSQL with the staging type."""
    text = pg_type.replace(" ", "").lower()
    if text.endswith("[]"):
        return "nvarchar(max)"  # a PostgreSQL array literal, parsed by the text[] staging column
    base, _, params = text.partition("(")
    mapped = _TSQL_TYPES.get(base)
    if mapped is None:
        raise ValueError(f"no T-SQL type for PostgreSQL type {pg_type!r}")
    if params and "(" not in mapped:
        return f"{mapped}({params}"
    return mapped


# --------------------------------------------------------------------------- lookups


def _source_output(etl: EtlModel, source_name: str, output_name: str) -> tuple[EtlSource, EtlOutput]:
    source = next((s for s in etl.sources if s.name == source_name), None)
    if source is None:
        raise KeyError(
            f"{MODEL_FILE}: no source {source_name!r} (the sources: {', '.join(s.name for s in etl.sources)})"
        )
    output = next((o for o in source.outputs if o.name == output_name), None)
    if output is None:
        known = ", ".join(o.name for o in source.outputs)
        raise KeyError(f"{MODEL_FILE}: source {source_name!r} has no output {output_name!r} (its outputs: {known})")
    return source, output


def contribution_table(source: EtlSource, output: EtlOutput) -> str:
    """The source's latest aggregates per key for one output; written only by the source's apply procedure."""
    return f"etl.{source.name}_{output.name}"


def query_path(etl: EtlModel, source_name: str, output_name: str) -> str:
    source, output = _source_output(etl, source_name, output_name)
    extension = "json" if source.marker == "updated_at" else "sql"
    return f"{QUERY_DIR}/{source.name}__{output.name}.{extension}"


def stage_columns(etl: EtlModel, source_name: str, output_name: str) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) of the output's fields, in order: what the source query returns and the transform
    writes into etl.stage_<source>_<output> (whose last column, batch_id, the transform adds)."""
    _, output = _source_output(etl, source_name, output_name)
    return [(f.name, f.type) for f in output.fields]


def low_bound_query(etl: EtlModel, source_name: str) -> str:
    source = etl.source(source_name)
    return f"SELECT etl.watermark_low('{source.name}') AS watermark_low"


def high_bound_query(etl: EtlModel, source_name: str) -> tuple[str, str]:
    """(store the query runs on, query) of the source's exclusive high bound, taken once before its queries."""
    source = etl.source(source_name)
    if source.marker == "rowversion":
        # Every rowversion below MIN_ACTIVE_ROWVERSION() belongs to a finished transaction; rows of transactions
        # still open carry higher values and are read by the next run instead of being skipped.
        return source.store, "SELECT CONVERT(varchar(18), MIN_ACTIVE_ROWVERSION(), 1) AS watermark_high"
    return etl.target_store, "SELECT etl.updated_at_high_bound() AS watermark_high"


def batch_header_sql(
    etl: EtlModel, source_name: str, batch_id: str = "${BATCH_ID}", low: str = "${WM_LOW}", high: str = "${WM_HIGH}"
) -> str:
    """The batch header the transform writes after its staged rows: the window and the rows staged per output."""
    source = etl.source(source_name)
    counts = ",\n        ".join(
        f"'{o.name}', (SELECT count(*) FROM {source.stage_table(o)} AS s WHERE s.batch_id = '{batch_id}')"
        for o in source.outputs
    )
    return (
        f"INSERT INTO {STAGE_BATCHES} (source_name, batch_id, watermark_low, watermark_high, rows_staged)\n"
        f"SELECT '{source.name}', '{batch_id}', '{low}', '{high}', jsonb_build_object(\n        {counts});"
    )


def apply_sql(etl: EtlModel, source_name: str) -> str:
    return f"CALL {etl.source(source_name).apply_procedure}('${{BATCH_ID}}', '${{AIRFLOW_RUN_ID}}');"


def failure_sql(etl: EtlModel, source_name: str) -> str:
    source = etl.source(source_name)
    return f"CALL {FAILED_RUN_PROCEDURE}('{source.name}', '${{BATCH_ID}}', '${{AIRFLOW_RUN_ID}}');"


# --------------------------------------------------------------------------- the PostgreSQL plan


@dataclass(frozen=True)
class Feed:
    """One output of one source: its staging table, its contribution table and the summary it feeds."""

    source: EtlSource
    output: EtlOutput
    stage_table: str
    table: str
    alias: str
    fields: tuple[tuple[str, str], ...]
    keys: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def pk_name(self) -> str:
        return f"pk_{self.table.split('.')[1]}"

    @property
    def stage_pk_name(self) -> str:
        return f"pk_{self.stage_table.split('.')[1]}"


@dataclass(frozen=True)
class Summary:
    """A target table and how its rows are rebuilt from the contribution tables of every source that feeds it."""

    table: str
    keys: tuple[str, ...]
    feeds: tuple[Feed, ...]
    required: tuple[Feed, ...]
    """Inner-joined: a row exists only once each of these has contributed (they own its required columns)."""
    optional: tuple[Feed, ...]
    """Left-joined: a missing contribution reads as the column's default until it arrives."""
    columns: tuple[tuple[str, str], ...]
    """(target column, expression over the feeds' aliases), in the target's column order."""
    compared: tuple[str, ...]
    """The non-key columns the refresh writes: a row is updated only when one of them differs."""
    reset: tuple[str, ...]
    """Columns no source feeds but that have a default (refreshed_at): set to DEFAULT when the row changes."""
    parents: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    """(summary, ((column, referenced column), ...)) of the foreign keys to other summaries: a row waits for its
    parent row."""

    @property
    def base(self) -> Feed:
        return self.required[0]


@dataclass(frozen=True)
class SourcePlan:
    source: EtlSource
    feeds: tuple[Feed, ...]
    summaries: tuple[Summary, ...]
    """The summaries the apply refreshes (those it feeds and their child summaries), parents first."""


@dataclass(frozen=True)
class EtlPlan:
    etl: EtlModel
    target: StoreModel
    sources: tuple[SourcePlan, ...]
    summaries: tuple[Summary, ...]
    writers: tuple[str, ...]
    """Roles of the target store that write the ETL's control schema: they stage and call the apply procedures."""

    @property
    def feeds(self) -> list[Feed]:
        return [f for p in self.sources for f in p.feeds]

    @property
    def rowversion_sources(self) -> list[str]:
        return [p.source.name for p in self.sources if p.source.marker == "rowversion"]

    @property
    def updated_at_sources(self) -> list[str]:
        return [p.source.name for p in self.sources if p.source.marker == "updated_at"]


def _required_column(table: Table, name: str) -> bool:
    column = table.column(name)
    return column is not None and not column.nullable and column.default is None and name not in table.primary_key


def _summary(table: Table, feeds: list[Feed], summaries: set[str]) -> Summary:
    required = [f for f in feeds if any(_required_column(table, v) for v in f.values)] or list(feeds)
    optional = [f for f in feeds if f not in required]
    owner = {v: f for f in feeds for v in f.values}
    base = required[0]
    columns: list[tuple[str, str]] = []
    compared: list[str] = []
    reset: list[str] = []
    for column in table.columns:
        name = pg_ident(column.name)
        if column.name in table.primary_key:
            columns.append((column.name, f"{base.alias}.{name}"))
        elif column.name in owner:
            feed = owner[column.name]
            expression = f"{feed.alias}.{name}"
            if feed in optional and column.default is not None:
                expression = f"COALESCE({expression}, {column.default})"
            columns.append((column.name, expression))
            compared.append(column.name)
        elif column.default is not None and not column.identity:
            reset.append(column.name)
    parents = tuple(
        (fk.references, tuple(zip(fk.columns, fk.ref_columns, strict=True)))
        for fk in table.foreign_keys
        if fk.references in summaries and fk.references != table.qualified
    )
    return Summary(
        table.qualified,
        tuple(table.primary_key),
        tuple(feeds),
        tuple(required),
        tuple(optional),
        tuple(columns),
        tuple(compared),
        tuple(reset),
        parents,
    )


def _writers(etl: EtlModel, target: StoreModel) -> tuple[str, ...]:
    schema = etl.watermark_table.split(".")[0]
    return tuple(
        role.name
        for role in target.roles
        if any(schema in g.schemas and {"INSERT", "UPDATE", "DELETE"} <= set(g.privileges) for g in role.grants)
    )


def _problems(etl: EtlModel, models: dict[str, Any], templates_root: Path) -> Iterator[tuple[str, str]]:
    """What the renderer needs beyond model_etl's checks: campaign keys, a campaign grain, T-SQL types, names."""
    target = models[etl.target_store]
    if not _writers(etl, target):
        schema = etl.watermark_table.split(".")[0]
        yield "target_store", f"no role of store {etl.target_store} writes schema {schema}: nobody could stage or apply"
    for source in etl.sources:
        sp = f"sources.{source.name}"
        if not (templates_root / source.query_template).is_file():
            yield f"{sp}.query_template", f"no template templates/{source.query_template}"
        if not any(o.keys == [CAMPAIGN_KEY] for o in source.outputs):
            yield (
                f"{sp}.outputs",
                f"no output keyed by {CAMPAIGN_KEY} alone: the apply learns the touched campaigns from it (every"
                " touched campaign has a row there, zeroed when its facts are gone)",
            )
        for name in (source.apply_procedure, *(source.stage_table(o) for o in source.outputs)):
            if len(name.split(".")[1]) + 3 > PG_IDENTIFIER_MAX:
                yield f"{sp}.name", f"{name} is too long for a PostgreSQL identifier ({PG_IDENTIFIER_MAX} bytes)"
        for output in source.outputs:
            op = f"{sp}.outputs.{output.name}"
            if CAMPAIGN_KEY not in output.keys:
                yield (
                    f"{op}.fields",
                    f"the key fields {output.keys} must include {CAMPAIGN_KEY}: whole campaigns are recomputed",
                )
            if source.marker == "rowversion":
                for fi, fld in enumerate(output.fields):
                    try:
                        tsql_type(fld.type)
                    except ValueError as exc:
                        yield f"{op}.fields[{fi}].type", str(exc)


def etl_plan(etl: EtlModel, models: dict[str, Any], templates_root: Path | None = None) -> EtlPlan:
    """Validate what the renderer needs and lay out the staging, contribution and summary refresh of every source."""
    for path, problem in _problems(etl, models, templates_root or Path(__file__).resolve().parent.parent / "templates"):
        _fail(path, problem)
    target: StoreModel = models[etl.target_store]
    feeds_by_target: dict[str, list[Feed]] = {}
    source_feeds: dict[str, list[Feed]] = {}
    for source in etl.sources:
        for output in source.outputs:
            feed = Feed(
                source,
                output,
                source.stage_table(output),
                contribution_table(source, output),
                source.name,
                tuple((f.name, f.type) for f in output.fields),
                tuple(output.keys),
                tuple(output.values),
            )
            feeds_by_target.setdefault(output.target, []).append(feed)
            source_feeds.setdefault(source.name, []).append(feed)
    names = set(feeds_by_target)
    summaries = {
        t.qualified: _summary(t, feeds_by_target[t.qualified], names) for t in target.tables if t.qualified in names
    }
    order = [t.qualified for t in target.tables if t.qualified in names]
    plans = []
    for source in etl.sources:
        refresh = {f.output.target for f in source_feeds[source.name]}
        while True:
            # A source that creates parent rows (it is required there) refreshes the child summaries too: their
            # rows may have waited for the parent row.
            creates = {t for t in refresh if any(f.source.name == source.name for f in summaries[t].required)}
            more = {s.table for s in summaries.values() if any(p in creates for p, _ in s.parents)} - refresh
            if not more:
                break
            refresh |= more
        plans.append(
            SourcePlan(source, tuple(source_feeds[source.name]), tuple(summaries[t] for t in order if t in refresh))
        )
    return EtlPlan(etl, target, tuple(plans), tuple(summaries[t] for t in order), _writers(etl, target))


# --------------------------------------------------------------------------- source queries


def _rowversion_columns(store: StoreModel) -> dict[str, str]:
    return {
        t.qualified: next(c.name for c in t.columns if c.type.lower() == "rowversion")
        for t in store.tables
        if any(c.type.lower() == "rowversion" for c in t.columns)
    }


def _template_fail(path: str, problem: str) -> NoReturn:
    _fail(path, problem)


def _render_query(
    etl: EtlModel, models: dict[str, Any], source: EtlSource, output: EtlOutput, templates_root: Path
) -> tuple[str, list[str]]:
    """(query text, templates used) of one output of one source."""
    store = models[source.store]
    dialect = "tsql" if source.marker == "rowversion" else "mongodb"
    env, loader = make_env("tsql" if dialect == "tsql" else "postgresql", templates_root)
    env.globals["fail"] = _template_fail
    env.globals["tsql_type"] = tsql_type
    env.globals["rowversion"] = _rowversion_columns(store) if dialect == "tsql" else {}
    env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    text = env.get_template(source.query_template).render(etl=etl, source=source, output=output, store=store)
    used = [f"templates/{t}" for t in loader.used]
    if dialect == "mongodb":
        try:
            pipeline = json.loads(text)
        except json.JSONDecodeError as exc:
            _fail(f"sources.{source.name}.query_template", f"templates/{source.query_template}: invalid JSON: {exc}")
        if not isinstance(pipeline, list) or not all(isinstance(stage, dict) and len(stage) == 1 for stage in pipeline):
            _fail(f"sources.{source.name}.query_template", "a pipeline must be a JSON array of one-key stage objects")
        text = json.dumps(pipeline, indent=2, ensure_ascii=False)
    return text.strip() + "\n", used


def source_query(
    etl: EtlModel, models: dict[str, Any], source_name: str, output_name: str, templates_root: Path
) -> str:
    """The exact text a Pentaho input step embeds: a T-SQL batch (TableInput) or a pipeline JSON array."""
    source, output = _source_output(etl, source_name, output_name)
    return _render_query(etl, models, source, output, templates_root)[0]


def _query_file(
    etl: EtlModel, models: dict[str, Any], source: EtlSource, output: EtlOutput, templates_root: Path
) -> str:
    text, used = _render_query(etl, models, source, output, templates_root)
    store = models[source.store]
    what = (
        f"Source query of {source.name}, output {output.name} -> {source.stage_table(output)} ({output.target});"
        f" runs on {store.database}. Embedded by Pentaho, never deployed."
    )
    if source.marker == "rowversion":
        return header("tsql", MODEL_FILE, used, what) + text
    document = {
        "_generated": f"Code generated by generators.render from {MODEL_FILE}; DO NOT EDIT.",
        "_templates": used,
        "_what": what,
        "database": store.database,
        "collection": source.change_tables[0],
        "source": source.name,
        "output": output.name,
        "pipeline": json.loads(text),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- rendering


HELPER_ROUTINES = (
    "FUNCTION etl.watermark_low(text)",
    "FUNCTION etl.updated_at_high_bound(interval)",
    "FUNCTION etl.staged_rows(text, text)",
    "FUNCTION etl.batch_problem(text, text)",
)


def etl_tables(etl: EtlModel) -> list[str]:
    """Every table 100_etl_staging.sql creates: the batch headers, then per output its staging and contribution."""
    return [
        STAGE_BATCHES,
        *(t for s in etl.sources for o in s.outputs for t in (s.stage_table(o), contribution_table(s, o))),
    ]


def etl_routines(etl: EtlModel) -> list[str]:
    """Every routine 110_etl_apply.sql creates, with its kind and argument types (what GRANT/REVOKE name)."""
    return [
        *HELPER_ROUTINES,
        *(f"PROCEDURE {s.apply_procedure}(text, text)" for s in etl.sources),
        f"PROCEDURE {FAILED_RUN_PROCEDURE}(text, text, text, text)",
    ]


def _render_pg(plan: EtlPlan, template: str, what: str, templates_root: Path) -> str:
    env, loader = make_env("postgresql", templates_root)
    env.globals["fail"] = _template_fail
    body = env.get_template(template).render(
        plan=plan,
        routines=etl_routines(plan.etl),
        campaign_key=pg_ident(CAMPAIGN_KEY),
        etl=plan.etl,
        model=plan.target,
        stage_batches=STAGE_BATCHES,
        failed_run_procedure=FAILED_RUN_PROCEDURE,
        rowversion_floor=ROWVERSION_FLOOR,
        updated_at_floor=UPDATED_AT_FLOOR,
        clock_margin=CLOCK_MARGIN,
    )
    target_file = f"model/{plan.target.store}.yaml"
    return header("postgresql", target_file, [f"templates/{t}" for t in loader.used], what) + body


def _check_identifiers(text: str, path: str) -> None:
    """A safety net over the rendered DDL: every constraint name must fit PostgreSQL's identifier length."""
    for name in re.findall(r"CONSTRAINT (\w+)", text):
        if len(name) > PG_IDENTIFIER_MAX:
            _fail("sources", f"{path}: constraint name {name} is longer than {PG_IDENTIFIER_MAX} bytes")


def render_etl(
    etl: EtlModel, models: dict[str, Any], out: Rendered, templates_root: Path, manifest: dict[str, Any]
) -> None:
    """Add the ETL's files to `out` and its deploy files to the target store's entry in `manifest`."""
    plan = etl_plan(etl, models, templates_root)
    entry = manifest["stores"].get(etl.target_store)
    if entry is None:
        _fail("target_store", f"store {etl.target_store!r} was not rendered before the ETL")
    sources: dict[str, Any] = {}
    for source in etl.sources:
        outputs: dict[str, Any] = {}
        for output in source.outputs:
            path = query_path(etl, source.name, output.name)
            out.add(path, _query_file(etl, models, source, output, templates_root))
            outputs[output.name] = {
                "query": path,
                "stage_table": source.stage_table(output),
                "contribution_table": contribution_table(source, output),
                "target": output.target,
            }
        high_store, high_query = high_bound_query(etl, source.name)
        sources[source.name] = {
            "store": source.store,
            "dialect": getattr(models[source.store], "dialect", ""),
            "marker": source.marker,
            "apply_procedure": source.apply_procedure,
            "low_bound": {"store": etl.target_store, "query": low_bound_query(etl, source.name)},
            "high_bound": {"store": high_store, "query": high_query},
            "outputs": outputs,
        }
    target: StoreModel = plan.target
    deploy: list[str] = []
    for number, kind, template in (STAGING_FILE, APPLY_FILE):
        path = f"{OUTPUT_DIR}/{target.store}/{number:03d}_{kind}.sql"
        what = (
            f"Store {target.store} ({target.database}): {kind.replace('_', ' ')}, step {number:03d} of the deploy"
            f" (the delta ETL of {MODEL_FILE})."
        )
        text = _render_pg(plan, template, what, templates_root)
        _check_identifiers(text, path)
        out.add(path, text)
        deploy.append(path)
    entry["deploy"] = [*entry["deploy"], *deploy]
    manifest["etl"] = {
        "model": MODEL_FILE,
        "deployed": False,
        "note": (
            "Source queries that the Pentaho transformations embed (not deployed); the staging, contribution and"
            " apply objects deploy with the target store (its deploy list ends with them)."
        ),
        "target_store": etl.target_store,
        "schedule_minutes": etl.schedule_minutes,
        "deploy": deploy,
        "stage_batches": STAGE_BATCHES,
        "failed_run_procedure": FAILED_RUN_PROCEDURE,
        "sources": sources,
    }


__all__ = [
    "EtlPlan",
    "apply_sql",
    "batch_header_sql",
    "contribution_table",
    "etl_plan",
    "etl_routines",
    "etl_tables",
    "failure_sql",
    "high_bound_query",
    "low_bound_query",
    "query_path",
    "render_etl",
    "source_query",
    "stage_columns",
    "tsql_type",
]
