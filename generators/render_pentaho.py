"""Render the Pentaho transformations (.ktr), the job (.kjb) and Carte's configuration from model/etl.yaml.

`generators.render.render_all` calls `render_pentaho` after `generators.render_etl` has rendered the source queries
and the PostgreSQL staging tables and apply procedures. Everything lands in `pentaho/` (swapped in whole and
drift-checked like `sql/`):

- `get_watermarks.ktr`: per source, its low bound (its watermark, read from PromptSales) and its high bound
  (`MIN_ACTIVE_ROWVERSION()` on its SQL Server, or PromptSales' clock minus a margin for MongoDB), set as
  `WM_LOW_<SOURCE>` / `WM_HIGH_<SOURCE>` on the root job;
- `stage_<source>.ktr`: per output, the source query (TableInput on SQL Server, MongoDbInput on PromptContent)
  -> `batch_id` added from `${BATCH_ID}` -> TableOutput into `etl.stage_<source>_<output>`;
- `promptsales_delta.kjb`: START -> get watermarks -> per source: clear its staging -> stage it -> write its
  batch header -> apply it -> ... -> Success; a failure is logged (`etl.log_failed_run`), then the job aborts;
- `carte-config.xml`: Carte's slave_config, with `${CARTE_*}` placeholders the container entrypoint fills (envsubst).

The layout (GUI coordinates) is computed here on a fixed grid, so Spoon shows each flow left to right and a
re-render is byte-identical. Connections and secrets are only ever `${VARIABLES}`: the job declares every
parameter its files use (see `job_parameters`), Airflow passes them through Carte (generators/airflow_etl.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from generators.model_etl import EtlModel, EtlSource
from generators.render import Rendered, make_env

OUT_DIR = "pentaho"
TEMPLATE_DIR = "pentaho"
MODEL_FILE = "model/etl.yaml"
JOB_NAME = "promptsales_delta"
JOB_FILE = f"{OUT_DIR}/{JOB_NAME}.kjb"
WATERMARKS_NAME = "get_watermarks"
PG_CONNECTION = "pg_target"
BATCH_COLUMN = "batch_id"
STAGE_BATCHES = "etl.stage_batches"
DEFAULT_BATCH_ID = "00000000-0000-0000-0000-000000000000"
"""BATCH_ID when the job is run by hand without one (Spoon, Kitchen): staging is cleared per source first anyway."""

STORE_PARAMETER_PREFIX: dict[str, str] = {
    "sales": "PG",
    "ads": "ADS_MSSQL",
    "crm": "CRM_MSSQL",
    "content": "CONTENT_MONGO",
}
"""The job's parameter prefix per store (generators/airflow_etl.py keeps the same map; a test checks it)."""
STORE_CONNECTIONS: dict[str, str] = {"sales": PG_CONNECTION, "ads": "ads_mssql", "crm": "crm_mssql"}
"""Pentaho connection names (content is read by MongoDbInput, which takes a connection string, not a connection)."""

GRID_X = 200
GRID_Y = 120
ORIGIN = (80, 80)

KETTLE_TYPES = {
    "bigint": "Integer",
    "integer": "Integer",
    "smallint": "Integer",
    "numeric": "BigNumber",
    "date": "Date",
    "timestamptz": "Timestamp",
    "boolean": "Boolean",
}
"""Kettle value types of the staging columns' PostgreSQL types (everything else travels as String)."""


# --------------------------------------------------------------------------- what the templates lay out


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str
    description: str


@dataclass(frozen=True)
class Connection:
    """A Pentaho database connection whose every field is a ${VARIABLE}."""

    name: str
    type: str
    prefix: str
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass
class Step:
    """One step of a transformation: its kind (the macro in templates/pentaho/_steps.xml.j2) and its settings."""

    name: str
    type: str
    macro: str
    x: int
    y: int
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Hop:
    source: str
    target: str


@dataclass
class Transformation:
    name: str
    description: str
    parameters: list[Parameter]
    connections: list[Connection]
    steps: list[Step]
    hops: list[Hop]
    notes: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One entry of the job: its kind (the macro in templates/pentaho/_entries.xml.j2) and its settings."""

    name: str
    type: str
    macro: str
    x: int
    y: int
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class JobHop:
    source: str
    target: str
    evaluation: bool = True
    unconditional: bool = False


@dataclass
class Job:
    name: str
    description: str
    parameters: list[Parameter]
    connections: list[Connection]
    entries: list[Entry]
    hops: list[JobHop]


def at(col: int, row: int) -> tuple[int, int]:
    return ORIGIN[0] + col * GRID_X, ORIGIN[1] + row * GRID_Y


# --------------------------------------------------------------------------- parameters and connections


def connection_for(store: str, models: dict[str, Any]) -> Connection:
    prefix = STORE_PARAMETER_PREFIX[store]
    attributes: tuple[tuple[str, str], ...]
    if store == "sales":
        # stringtype=unspecified: values staged from text (arrays, dates) are typed by the column, not as varchar.
        attributes = (
            ("EXTRA_OPTION_POSTGRESQL.sslmode", "${PG_SSLMODE}"),
            ("EXTRA_OPTION_POSTGRESQL.stringtype", "unspecified"),
            ("PORT_NUMBER", "${PG_PORT}"),
        )
        return Connection(PG_CONNECTION, "POSTGRESQL", prefix, attributes)
    attributes = (
        ("EXTRA_OPTION_MSSQLNATIVE.applicationName", "promptsales_etl"),
        ("EXTRA_OPTION_MSSQLNATIVE.encrypt", "true"),
        ("EXTRA_OPTION_MSSQLNATIVE.trustServerCertificate", "${MSSQL_TRUST_SERVER_CERTIFICATE}"),
        ("PORT_NUMBER", f"${{{prefix}_PORT}}"),
    )
    return Connection(STORE_CONNECTIONS[store], "MSSQLNATIVE", prefix, attributes)


def connection_parameters(store: str, models: dict[str, Any]) -> list[Parameter]:
    prefix = STORE_PARAMETER_PREFIX[store]
    database = str(models[store].database)
    if store == "content":
        return [
            Parameter(
                f"{prefix}_URI", "", "MongoDB connection string of PromptContent (passed at run time, never stored)"
            ),
            Parameter(f"{prefix}_DB", database, "PromptContent's database"),
        ]
    what = "PromptSales (PostgreSQL)" if store == "sales" else f"{models[store].database} (SQL Server)"
    params = [
        Parameter(f"{prefix}_HOST", "", f"host of {what}"),
        Parameter(f"{prefix}_PORT", "5432" if store == "sales" else "1433", f"port of {what}"),
        Parameter(f"{prefix}_DB", database, f"database of {what}"),
        Parameter(f"{prefix}_USER", "", f"login for {what}"),
        Parameter(f"{prefix}_PASSWORD", "", f"password for {what} (passed at run time, never stored)"),
    ]
    if store == "sales":
        params.append(Parameter("PG_SSLMODE", "prefer", "libpq sslmode of the PromptSales connection"))
    else:
        params.append(
            Parameter("MSSQL_TRUST_SERVER_CERTIFICATE", "false", "trust the SQL Servers' certificates unverified")
        )
    return params


def _merge(*groups: list[Parameter]) -> list[Parameter]:
    seen: dict[str, Parameter] = {}
    for group in groups:
        for p in group:
            seen.setdefault(p.name, p)
    return sorted(seen.values(), key=lambda p: p.name)


RUN_PARAMETERS = [
    Parameter("AIRFLOW_RUN_ID", "manual", "the Airflow run that started the job, recorded in etl.run_log"),
    Parameter("BATCH_ID", DEFAULT_BATCH_ID, "the staging batch of this run (Airflow derives it from its run id)"),
]


def job_parameters(etl: EtlModel, models: dict[str, Any]) -> list[Parameter]:
    """Every parameter the job and its transformations use, sorted by name."""
    stores = ["sales", *sorted({s.store for s in etl.sources})]
    return _merge(RUN_PARAMETERS, *(connection_parameters(store, models) for store in stores))


def var(name: str) -> str:
    return f"${{{name}}}"


def source_var(kind: str, source: EtlSource) -> str:
    return f"WM_{kind}_{source.name.upper()}"


# --------------------------------------------------------------------------- get_watermarks.ktr


def _set_variable(field_name: str, variable: str) -> dict[str, Any]:
    return {"fields": [{"field": field_name, "variable": variable, "scope": "ROOT_JOB"}]}


def watermarks_transformation(etl: EtlModel, models: dict[str, Any]) -> Transformation:
    """Per source: its low bound from PromptSales and its high bound from where its changes happen, as job variables.

    The bounds are the ETL's own queries (`render_etl.low_bound_query` / `high_bound_query`): the low bound is the
    source's watermark, the high bound `MIN_ACTIVE_ROWVERSION()` on the source's SQL Server, or PromptSales' clock
    minus a safety margin for a MongoDB source. All are read before any source is staged.
    """
    from generators import render_etl

    steps: list[Step] = []
    hops: list[Hop] = []
    stores = {etl.target_store}
    for row, source in enumerate(etl.sources):
        low, high = source_var("LOW", source), source_var("HIGH", source)
        high_store, high_query = render_etl.high_bound_query(etl, source.name)
        stores.add(high_store)
        where = "PromptSales' clock" if high_store == etl.target_store else models[high_store].database
        reads = [
            (
                f"read low bound ({source.name})",
                f"set {low}",
                {"connection": PG_CONNECTION, "sql": render_etl.low_bound_query(etl, source.name)},
                "watermark_low",
                low,
                f"the watermark of {source.name} in {etl.watermark_table} (inclusive)",
            ),
            (
                f"read high bound ({source.name})",
                f"set {high}",
                {"connection": STORE_CONNECTIONS[high_store], "sql": high_query},
                "watermark_high",
                high,
                f"the exclusive high bound of {source.name}, from {where}",
            ),
        ]
        for i, (read, setv, settings, column, variable, description) in enumerate(reads):
            x, y = at(2 * i, row)
            steps.append(Step(read, "TableInput", "table_input", x, y, settings, description))
            x, y = at(2 * i + 1, row)
            steps.append(Step(setv, "SetVariable", "set_variable", x, y, _set_variable(column, variable)))
            hops.append(Hop(read, setv))
    ordered = sorted(stores, key=lambda s: (s != etl.target_store, s))
    return Transformation(
        WATERMARKS_NAME,
        "Sets WM_LOW_<SOURCE> and WM_HIGH_<SOURCE> on the root job: the delta window of every source.",
        _merge(*(connection_parameters(store, models) for store in ordered)),
        [connection_for(store, models) for store in ordered],
        steps,
        hops,
    )


# --------------------------------------------------------------------------- stage_<source>.ktr


def kettle_type(pg_type: str) -> str:
    base = pg_type.split("(")[0].strip().lower()
    return "String" if base.endswith("[]") else KETTLE_TYPES.get(base, "String")


def stage_transformation(
    etl: EtlModel, models: dict[str, Any], source: EtlSource, templates_root: Path
) -> Transformation:
    from generators import render_etl

    steps: list[Step] = []
    hops: list[Hop] = []
    for row, output in enumerate(source.outputs):
        columns = render_etl.stage_columns(etl, source.name, output.name)
        query = render_etl.source_query(etl, models, source.name, output.name, templates_root)
        read, add, stage = f"read {output.name}", f"add batch_id ({output.name})", f"stage {output.name}"
        x, y = at(0, row)
        if source.marker == "rowversion":
            steps.append(
                Step(
                    read,
                    "TableInput",
                    "table_input",
                    x,
                    y,
                    {"connection": STORE_CONNECTIONS[source.store], "sql": query},
                    f"{output.description or output.name}: the campaigns touched in [WM_LOW, WM_HIGH)",
                )
            )
        else:
            steps.append(
                Step(
                    read,
                    "MongoDbInput",
                    "mongodb_input",
                    x,
                    y,
                    {
                        "collection": _collection(source),
                        "pipeline": query,
                        "fields": [(name, kettle_type(pg_type)) for name, pg_type in columns],
                    },
                    f"{output.description or output.name}: the campaigns touched in [WM_LOW, WM_HIGH)",
                )
            )
        x, y = at(1, row)
        # Get Variables appends ${BATCH_ID} to every row (Add constants would write the text "${BATCH_ID}").
        steps.append(Step(add, "GetVariable", "get_variable", x, y, {"fields": [(BATCH_COLUMN, "BATCH_ID")]}))
        x, y = at(2, row)
        schema, table = source.stage_table(output).split(".")
        steps.append(
            Step(
                stage,
                "TableOutput",
                "table_output",
                x,
                y,
                {
                    "connection": PG_CONNECTION,
                    "schema": schema,
                    "table": table,
                    "fields": [name for name, _ in columns] + [BATCH_COLUMN],
                },
                f"into {source.stage_table(output)}",
            )
        )
        hops += [Hop(read, add), Hop(add, stage)]
    stores = [source.store, "sales"]
    connections = [connection_for(s, models) for s in stores if s in STORE_CONNECTIONS]
    parameters = _merge(
        [
            Parameter("BATCH_ID", DEFAULT_BATCH_ID, "the staging batch of this run"),
            Parameter("WM_LOW", "", "the source's low bound (inclusive): its watermark"),
            Parameter("WM_HIGH", "", "the source's high bound (exclusive)"),
        ],
        *(connection_parameters(s, models) for s in sorted(set(stores))),
    )
    return Transformation(
        f"stage_{source.name}",
        f"Stages {source.name}: {source.description}",
        parameters,
        connections,
        steps,
        hops,
    )


def _collection(source: EtlSource) -> str:
    if len(source.change_tables) != 1:
        raise ValueError(f"{MODEL_FILE}: sources.{source.name}: a MongoDB source reads exactly one collection")
    return source.change_tables[0]


# --------------------------------------------------------------------------- promptsales_delta.kjb


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def clear_sql(source: EtlSource) -> str:
    """Empty the source's staging (what an earlier, failed run may have left) before it is staged again."""
    lines = [f"DELETE FROM {source.stage_table(o)};" for o in source.outputs]
    lines.append(f"DELETE FROM {STAGE_BATCHES} WHERE source_name = {_sql_literal(source.name)};")
    return "\n".join(lines)


def delta_job(etl: EtlModel, models: dict[str, Any]) -> Job:
    """START -> get watermarks -> per source: clear, stage, header, apply -> Success; failures logged, then Abort."""
    from generators import render_etl

    entries: list[Entry] = []
    hops: list[JobHop] = []
    x, y = at(0, 0)
    entries.append(Entry("START", "SPECIAL", "start", x, y))
    x, y = at(1, 0)
    entries.append(
        Entry(
            "get watermarks",
            "TRANS",
            "trans",
            x,
            y,
            {"file": f"{WATERMARKS_NAME}.ktr", "parameters": []},
            "every source's delta window, as WM_LOW_<SOURCE> / WM_HIGH_<SOURCE>",
        )
    )
    hops.append(JobHop("START", "get watermarks", unconditional=True))
    x, y = at(1, 1)
    entries.append(Entry("abort: watermarks", "ABORT", "abort", x, y, {"message": "could not read the watermarks"}))
    hops.append(JobHop("get watermarks", "abort: watermarks", evaluation=False))
    previous = "get watermarks"
    for i, source in enumerate(etl.sources):
        row = 2 + 2 * i
        low, high = var(source_var("LOW", source)), var(source_var("HIGH", source))
        names = [f"clear {source.name}", f"stage {source.name}", f"header {source.name}", f"apply {source.name}"]
        specs: list[tuple[str, str, dict[str, Any], str]] = [
            ("SQL", "sql", {"sql": clear_sql(source)}, "remove what an earlier, failed run left in staging"),
            (
                "TRANS",
                "trans",
                {"file": f"stage_{source.name}.ktr", "parameters": [("WM_LOW", low), ("WM_HIGH", high)]},
                f"the source query into {', '.join(source.stage_table(o) for o in source.outputs)}",
            ),
            (
                "SQL",
                "sql",
                {"sql": render_etl.batch_header_sql(etl, source.name, low=low, high=high)},
                "the batch header, written only after the data",
            ),
            (
                "SQL",
                "sql",
                {"sql": render_etl.apply_sql(etl, source.name)},
                "upsert the summaries, log the run and advance the watermark in one transaction",
            ),
        ]
        for col, (name, (etype, macro, settings, description)) in enumerate(zip(names, specs, strict=True), start=1):
            x, y = at(col, row)
            entries.append(Entry(name, etype, macro, x, y, settings, description))
        failed, abort = f"log failure {source.name}", f"abort: {source.name}"
        x, y = at(4, row + 1)
        entries.append(
            Entry(
                failed,
                "SQL",
                "sql",
                x,
                y,
                {"sql": render_etl.failure_sql(etl, source.name)},
                "record the failed run in etl.run_log (the watermark stays where it was)",
            )
        )
        x, y = at(5, row + 1)
        entries.append(Entry(abort, "ABORT", "abort", x, y, {"message": f"the delta of {source.name} failed"}))
        hops.append(JobHop(previous, names[0]))
        hops += [JobHop(a, b) for a, b in itertools.pairwise(names)]
        hops += [JobHop(name, failed, evaluation=False) for name in names]
        # Abort whether or not the failure could be logged: Carte must report the job failed.
        hops.append(JobHop(failed, abort, unconditional=True))
        previous = names[-1]
    x, y = at(5, 2 * len(etl.sources))
    entries.append(Entry("Success", "SUCCESS", "success", x, y))
    hops.append(JobHop(previous, "Success"))
    return Job(
        JOB_NAME,
        "The PromptSales delta ETL: every source's changes since its watermark, staged and applied.",
        job_parameters(etl, models),
        [connection_for("sales", models)],
        entries,
        hops,
    )


# --------------------------------------------------------------------------- rendering


def xml_text(value: Any) -> str:
    """Element text: & < > escaped (quotes stay readable: no attribute values are rendered)."""
    return escape(str(value))


def yn(value: bool) -> str:
    return "Y" if value else "N"


def generated_comment(templates: list[str], what: str) -> str:
    used = ", ".join(f"templates/{t}" for t in templates)
    return (
        f"<!-- Code generated by generators.render from {MODEL_FILE}; DO NOT EDIT.\n"
        f"     Templates: {used}\n"
        f"     {comment_text(what)} -->"
    )


def comment_text(text: str) -> str:
    """Text inside an XML comment, which may hold anything but `--`."""
    if "--" in text:
        raise ValueError(f"{text!r}: an XML comment cannot contain '--'")
    return text


def _render(templates_root: Path, template: str, what: str, **context: Any) -> str:
    env, loader = make_env("pentaho", templates_root)
    env.filters["x"] = xml_text
    env.filters["yn"] = yn
    body = env.get_template(f"{TEMPLATE_DIR}/{template}").render(**context)
    declaration, _, rest = body.partition("\n")
    return f"{declaration}\n{generated_comment(loader.used, what)}\n{rest}"


def render_pentaho(
    etl: EtlModel, models: dict[str, Any], out: Rendered, templates_root: Path, manifest: dict[str, Any]
) -> None:
    """Add pentaho/*.ktr, pentaho/*.kjb and pentaho/carte-config.xml to `out`."""
    watermarks = watermarks_transformation(etl, models)
    out.add(
        f"{OUT_DIR}/{watermarks.name}.ktr",
        _render(templates_root, "transformation.ktr.j2", watermarks.description, trans=watermarks),
    )
    for source in etl.sources:
        trans = stage_transformation(etl, models, source, templates_root)
        out.add(
            f"{OUT_DIR}/{trans.name}.ktr",
            _render(templates_root, "transformation.ktr.j2", trans.description, trans=trans),
        )
    job = delta_job(etl, models)
    out.add(JOB_FILE, _render(templates_root, "job.kjb.j2", job.description, job=job))
    out.add(
        f"{OUT_DIR}/carte-config.xml",
        _render(
            templates_root,
            "carte-config.xml.j2",
            "Carte's configuration. The ${CARTE_*} placeholders are filled by envsubst in the container entrypoint"
            " (Carte does not substitute variables in this file).",
        ),
    )
