"""The delta ETL mapping (model/etl.yaml): which source facts feed which PromptSales summaries, at what grain.

Each source is one change-tracked slice of a source store (a SQL Server database watermarked on `rowversion`, or
a MongoDB collection watermarked on `updated_at`). For every campaign touched since its watermark, its rendered
query returns the campaign's recomputed aggregates at each output's grain; the transform stages them in
PostgreSQL, and the source's apply procedure upserts them into the summaries it owns (only rows whose values
changed), records the run and advances the watermark in one transaction. Because a touched campaign's
aggregates are recomputed whole, re-staging after a crash replaces instead of adding: nothing is lost and
nothing counted twice.

The mapping is checked against the other models (`cross_problems`): the watermark row exists, the change tables
carry their change marker, every output's key is the target table's primary key, every field lands in a target
column of the same type, and no target column is owned by two sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from generators.model import IDENT, Strict, check_type, validate_model

Marker = Literal["rowversion", "updated_at"]


def _ident(value: str) -> str:
    if not re.match(IDENT, value):
        raise ValueError(f"invalid identifier {value!r} (lower_snake_case expected)")
    return value


class EtlField(Strict):
    """One column of an output: what the source query returns, the staging table holds and the target receives."""

    name: str
    type: str = Field(description="PostgreSQL type of the staging and target column")
    key: bool = False
    description: str = ""

    _name = field_validator("name")(lambda cls, v: _ident(v))


class EtlOutput(Strict):
    """The aggregates of one grain (e.g. per campaign, per campaign x channel x day) and the summary they feed."""

    name: str = Field(description="the grain's name; the staging table is etl.stage_<source>_<name>")
    target: str = Field(description="schema.table of the summary in the target store")
    fields: list[EtlField] = Field(min_length=2)
    description: str = ""

    _name = field_validator("name")(lambda cls, v: _ident(v))

    @property
    def keys(self) -> list[str]:
        return [f.name for f in self.fields if f.key]

    @property
    def values(self) -> list[str]:
        return [f.name for f in self.fields if not f.key]


class EtlSource(Strict):
    """One change-tracked source: its store, its change marker, what it reads and what it feeds."""

    name: str = Field(description="the source's row in etl.source_watermarks")
    store: str
    marker: Marker
    change_tables: list[str] = Field(
        min_length=1, description="schema.table (SQL Server) or collection (MongoDB) whose changes touch a campaign"
    )
    query_template: str = Field(description="path under templates/ of the source query (T-SQL or a MongoDB pipeline)")
    description: str
    outputs: list[EtlOutput] = Field(min_length=1)

    _name = field_validator("name")(lambda cls, v: _ident(v))

    def stage_table(self, output: EtlOutput) -> str:
        return f"etl.stage_{self.name}_{output.name}"

    @property
    def apply_procedure(self) -> str:
        return f"etl.apply_{self.name}"


class EtlModel(Strict):
    schema_version: int
    store: Literal["etl"]
    dialect: Literal["etl"]
    description: str
    target_store: str = "sales"
    watermark_table: str = "etl.source_watermarks"
    run_log_table: str = "etl.run_log"
    schedule_minutes: int = Field(default=11, ge=1, le=1440, description="the interval between delta runs")
    sources: list[EtlSource] = Field(min_length=1)

    def source(self, name: str) -> EtlSource:
        return next(s for s in self.sources if s.name == name)

    def problems(self) -> Iterator[tuple[str, str]]:
        """Checks within this file (the ones against the other models are in cross_problems)."""
        names = [s.name for s in self.sources]
        for si, source in enumerate(self.sources):
            sp = f"sources.{source.name}"
            if names.index(source.name) != si:
                yield sp, f"duplicate source {source.name!r}"
            grains = [o.name for o in source.outputs]
            for oi, output in enumerate(source.outputs):
                op = f"{sp}.outputs.{output.name}"
                if grains.index(output.name) != oi:
                    yield op, f"duplicate output {output.name!r}"
                if not output.keys:
                    yield f"{op}.fields", "no key field: mark the grain's columns with key: true"
                seen: list[str] = []
                for fi, fld in enumerate(output.fields):
                    if fld.name in seen:
                        yield f"{op}.fields[{fi}].name", f"duplicate field {fld.name!r}"
                    seen.append(fld.name)
                    problem = check_type("postgresql", fld.type)
                    if problem:
                        yield f"{op}.fields[{fi}].type", problem

    def cross_problems(self, models: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Checks against the store models, by store name (the loader runs them once every model is loaded)."""
        target = models.get(self.target_store)
        if target is None or getattr(target, "dialect", None) != "postgresql":
            yield "target_store", f"unknown PostgreSQL store {self.target_store!r}"
            return
        for path, name in (("watermark_table", self.watermark_table), ("run_log_table", self.run_log_table)):
            if name not in target.table_map:
                yield path, f"unknown table {name!r} in store {self.target_store}"
        watermarks = target.table_map.get(self.watermark_table)
        registered = {str(r.get("source_name")): r for r in (watermarks.rows if watermarks else [])}
        owners: dict[tuple[str, str], str] = {}
        for source in self.sources:
            sp = f"sources.{source.name}"
            row = registered.get(source.name)
            if row is None:
                yield f"{sp}.name", f"no row {source.name!r} in {self.watermark_table} (add it to the model's rows)"
            elif (row.get("store"), row.get("marker_kind")) != (source.store, source.marker):
                yield (
                    f"{sp}.marker",
                    f"{self.watermark_table} registers {source.name!r} as {row.get('store')}/{row.get('marker_kind')},"
                    f" not {source.store}/{source.marker}",
                )
            yield from _change_table_problems(source, models.get(source.store), sp)
            for output in source.outputs:
                yield from _output_problems(source, output, target, owners, f"{sp}.outputs.{output.name}")


def _change_table_problems(source: EtlSource, store: Any, sp: str) -> Iterator[tuple[str, str]]:
    if store is None:
        yield f"{sp}.store", f"unknown store {source.store!r}"
        return
    dialect = getattr(store, "dialect", None)
    if source.marker == "rowversion" and dialect != "tsql":
        yield f"{sp}.marker", f"rowversion is a SQL Server marker; store {source.store!r} is {dialect}"
        return
    if source.marker == "updated_at" and dialect != "mongodb":
        yield f"{sp}.marker", f"updated_at watermarks are for MongoDB collections; store {source.store!r} is {dialect}"
        return
    for ti, name in enumerate(source.change_tables):
        tp = f"{sp}.change_tables[{ti}]"
        if dialect == "tsql":
            table = store.table_map.get(name)
            if table is None:
                yield tp, f"unknown table {name!r} in store {source.store}"
            elif not any(c.type.lower() == "rowversion" for c in table.columns):
                yield tp, f"{name} has no rowversion column to watermark on"
            elif not any(i.columns[0] == "row_ver" for i in table.indexes):
                yield tp, f"{name} has no index leading on row_ver: every delta run would scan it"
        else:
            collection = next((c for c in store.collections if c.name == name), None)
            if collection is None:
                yield tp, f"unknown collection {name!r} in store {source.store}"
            elif collection.change_marker != "updated_at":
                yield tp, f"collection {name} does not use updated_at as its change marker"


def _output_problems(
    source: EtlSource, output: EtlOutput, target: Any, owners: dict[tuple[str, str], str], op: str
) -> Iterator[tuple[str, str]]:
    table = target.table_map.get(output.target)
    if table is None:
        yield f"{op}.target", f"unknown table {output.target!r} in store {target.store}"
        return
    if sorted(output.keys) != sorted(table.primary_key):
        yield (
            f"{op}.fields",
            f"the key fields {output.keys} are not the primary key {table.primary_key} of {table.qualified}",
        )
    for fi, fld in enumerate(output.fields):
        column = table.column(fld.name)
        if column is None:
            yield f"{op}.fields[{fi}].name", f"unknown column {fld.name!r} in {table.qualified}"
            continue
        if column.type.replace(" ", "").lower() != fld.type.replace(" ", "").lower():
            yield f"{op}.fields[{fi}].type", f"{fld.type} does not match {table.qualified}.{fld.name} ({column.type})"
        if fld.key:
            continue
        owner = owners.setdefault((table.qualified, fld.name), source.name)
        if owner != source.name:
            yield f"{op}.fields[{fi}].name", f"{table.qualified}.{fld.name} is already fed by source {owner!r}"


def load_etl_model(raw: dict[str, Any], shown: str) -> EtlModel:
    return validate_model(raw, shown, EtlModel, lambda model: model.problems())
