"""Broken model files fail `make render` with one path-precise line and leave sql/ untouched."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.model import SCHEMA_VERSION, ModelError, load_model
from generators.render import main as render_main


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(path).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def workspace(tmp_path: Path, root: Path) -> Path:
    """A copy of model/, templates/ and the committed sql/ to break things in."""
    for name in ("model", "templates", "sql"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path


def table(raw: dict[str, Any], qualified: str) -> dict[str, Any]:
    schema, name = qualified.split(".")
    return next(t for t in raw["tables"] if t["name"] == name and t["schema"] == schema)


def edit_sales(workspace: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = workspace / "model" / "sales.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def bad_fk_target(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["foreign_keys"][0]["references"] = "portal.companys"


def duplicate_column(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["columns"].append({"name": "email", "type": "text"})


def bad_type(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["columns"][1]["type"] = "strng"


def bad_fk_column(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["foreign_keys"][0]["ref_columns"] = ["company_uid"]


def bad_index_column(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["indexes"][0]["columns"] = ["companyid"]


def bad_expression_column(raw: dict[str, Any]) -> None:
    table(raw, "analytics.campaign_effectiveness")["indexes"][0]["columns"] = ["(lower(brand))", "starts_on"]


def unparsable_expression(raw: dict[str, Any]) -> None:
    table(raw, "analytics.campaign_effectiveness")["indexes"][0]["columns"] = ["(lower(brand_name)", "starts_on"]


def expression_include(raw: dict[str, Any]) -> None:
    table(raw, "analytics.campaign_effectiveness")["indexes"][0]["include"] = ["(lower(status))"]


def unknown_field(raw: dict[str, Any]) -> None:
    table(raw, "portal.users")["columns"][1]["nullabel"] = False


def missing_field(raw: dict[str, Any]) -> None:
    del table(raw, "portal.users")["primary_key"]


def unknown_trigger_function(raw: dict[str, Any]) -> None:
    table(raw, "analytics.campaign_effectiveness")["triggers"][0]["function"] = "analytics.fn_nope"


def duplicate_table(raw: dict[str, Any]) -> None:
    raw["tables"].append(dict(table(raw, "portal.users")))


def bad_schema_version(raw: dict[str, Any]) -> None:
    raw["schema_version"] = SCHEMA_VERSION + 1


def unknown_grant_table(raw: dict[str, Any]) -> None:
    next(r for r in raw["roles"] if r["name"] == "promptsales_analyst")["grants"][1]["tables"].append("portal.secrets")


CASES = {
    "unknown foreign-key target": (
        bad_fk_target,
        "model/sales.yaml: tables.users.foreign_keys[0].references: unknown table 'portal.companys'",
    ),
    "duplicate column": (
        duplicate_column,
        "model/sales.yaml: tables.users.columns[10].name: duplicate column 'email' in table portal.users",
    ),
    "bad type": (
        bad_type,
        "model/sales.yaml: tables.users.columns[1].type: unknown PostgreSQL type 'strng' (known: ",
    ),
    "unknown referenced column": (
        bad_fk_column,
        "model/sales.yaml: tables.users.foreign_keys[0].ref_columns: unknown column 'company_uid' in table "
        "portal.companies",
    ),
    "unknown index column": (
        bad_index_column,
        "model/sales.yaml: tables.users.indexes[0]: unknown column 'companyid' in table portal.users",
    ),
    "unknown column in an expression key": (
        bad_expression_column,
        "model/sales.yaml: tables.campaign_effectiveness.indexes[0]: expression index key '(lower(brand))':"
        " unknown column 'brand'",
    ),
    "unparsable expression key": (
        unparsable_expression,
        "model/sales.yaml: tables.campaign_effectiveness.indexes[0]: expression index key '(lower(brand_name)'"
        " does not parse: ",
    ),
    "expression as an INCLUDE column": (
        expression_include,
        "model/sales.yaml: tables.campaign_effectiveness.indexes[0]: expression '(lower(status))' cannot be an"
        " INCLUDE column",
    ),
    "misspelled field": (unknown_field, "model/sales.yaml: tables.users.columns[1].nullabel: unknown field"),
    "missing required field": (missing_field, "model/sales.yaml: tables.users.primary_key: required field is missing"),
    "unknown trigger function": (
        unknown_trigger_function,
        "model/sales.yaml: tables.campaign_effectiveness.triggers[0].function: unknown routine 'analytics.fn_nope'",
    ),
    "duplicate table": (duplicate_table, "model/sales.yaml: tables.users: duplicate table 'portal.users'"),
    "unsupported schema version": (
        bad_schema_version,
        f"model/sales.yaml: schema_version: unsupported schema_version {SCHEMA_VERSION + 1}",
    ),
    "grant on unknown table": (
        unknown_grant_table,
        "model/sales.yaml: roles.promptsales_analyst.grants[1].tables: unknown table 'portal.secrets'",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_model_fails_with_one_precise_line_and_writes_nothing(
    case: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = CASES[case]
    edit_sales(workspace, change)
    before = tree_digest(workspace / "sql")

    assert render_main(["--root", str(workspace)]) == 1

    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {expected}"), lines[0]
    assert tree_digest(workspace / "sql") == before
    assert not list(workspace.glob(".sql*")), "no temporary render directory may be left behind"


def test_make_render_cli_reports_the_error_without_a_traceback(workspace: Path, root: Path) -> None:
    """The real command line: exit status 1, one stderr line, no Python traceback."""
    edit_sales(workspace, bad_fk_target)
    proc = subprocess.run(
        [sys.executable, "-m", "generators.render", "--root", str(workspace)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: model/sales.yaml: tables.users.foreign_keys[0].references: unknown table 'portal.companys'"
    )
    assert "Traceback" not in proc.stderr + proc.stdout


def test_duplicate_yaml_key_names_the_line(workspace: Path) -> None:
    path = workspace / "model" / "sales.yaml"
    text = path.read_text().replace("store: sales\n", "store: sales\nstore: ads\n", 1)
    path.write_text(text)
    with pytest.raises(ModelError) as info:
        load_model(path, root=workspace)
    assert str(info.value) == "model/sales.yaml: line 6, column 1: invalid YAML: duplicate key 'store'"


def test_the_committed_model_is_valid(root: Path) -> None:
    model = load_model(root / "model" / "sales.yaml", root=root)
    assert model.store == "sales" and model.dialect == "postgresql"
    assert len(model.tables) >= 25
    # Every audited table gets the audit trigger, every updated_at table the touch trigger.
    for t in model.tables:
        names = {trg.name for trg in model.all_triggers(t)}
        assert (f"trg_{t.name}_audit" in names) == t.audited
        assert (f"trg_{t.name}_touch_updated_at" in names) == (t.updated_at is not None)


def edit_model(workspace: Path, store: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = workspace / "model" / f"{store}.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def tvp_duplicate_column(raw: dict[str, Any]) -> None:
    raw["table_types"][0]["columns"].append({"name": "channel_code", "type": "varchar(30)"})


def tvp_unknown_key(raw: dict[str, Any]) -> None:
    raw["table_types"][1]["primary_key"] = ["market"]


def tvp_rowversion(raw: dict[str, Any]) -> None:
    raw["table_types"][2]["columns"].append({"name": "row_ver", "type": "rowversion"})


def tsql_audited_table(raw: dict[str, Any]) -> None:
    table(raw, "ads.campaigns")["audited"] = True


def tsql_pg_type(raw: dict[str, Any]) -> None:
    table(raw, "ads.campaigns")["columns"][2]["type"] = "timestamptz"


ADS_CASES = {
    "duplicate table-type column": (
        tvp_duplicate_column,
        "model/ads.yaml: table_types.ChannelList.columns[2].name: duplicate column 'channel_code' in table type "
        "ads.ChannelList",
    ),
    "unknown table-type key": (
        tvp_unknown_key,
        "model/ads.yaml: table_types.MarketList.primary_key[0]: unknown column 'market' in table type ads.MarketList",
    ),
    "rowversion in a table type": (
        tvp_rowversion,
        "model/ads.yaml: table_types.AudienceList.columns[1].type: a table type column cannot be rowversion",
    ),
    "PostgreSQL-only trigger shortcut on T-SQL": (
        tsql_audited_table,
        "model/ads.yaml: tables.campaigns: triggers, audited and updated_at are PostgreSQL-only",
    ),
    "PostgreSQL type in a T-SQL model": (
        tsql_pg_type,
        "model/ads.yaml: tables.campaigns.columns[2].type: unknown T-SQL type 'timestamptz'",
    ),
}


@pytest.mark.parametrize("case", sorted(ADS_CASES))
def test_broken_ads_model_fails_with_one_precise_line(
    case: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = ADS_CASES[case]
    edit_model(workspace, "ads", change)
    before = tree_digest(workspace / "sql")
    assert render_main(["--root", str(workspace)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}"), lines
    assert tree_digest(workspace / "sql") == before
