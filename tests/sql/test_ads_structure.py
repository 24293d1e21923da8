"""PromptAds T-SQL, structurally: delta markers and their indexes, TVP types, and the course's SP skeleton."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generators.model import StoreModel, load_model
from tests.sql.tsql_tree import ordered, procedures

ROOT = Path(__file__).resolve().parents[2]
ADS = ROOT / "sql" / "ads"

# The PromptAds tables whose changes the delta ETL reads (model/ads.yaml's header comment and docs/ads.md).
ETL_SOURCES = ["ads.campaigns", "ads.ads", "perf.daily_results", "perf.social_reactions"]


@pytest.fixture(scope="module")
def model() -> StoreModel:
    return load_model(ROOT / "model" / "ads.yaml", root=ROOT)


@pytest.fixture(scope="module")
def create_campaign() -> str:
    return procedures((ADS / "050_functions.sql").read_text())["ads.ADSSP_CreateCampaign"]


def test_manifest_deploys_ads_in_kind_order_starting_with_the_database() -> None:
    manifest = json.loads((ROOT / "sql" / "manifest.json").read_text())["stores"]["ads"]
    assert manifest["dialect"] == "tsql" and manifest["database"] == "PromptAds"
    names = [Path(p).name for p in manifest["deploy"]]
    assert names == [
        "005_database.sql",
        "010_schemas.sql",
        "015_types.sql",
        "020_tables.sql",
        "030_foreign_keys.sql",
        "040_indexes.sql",
        "050_functions.sql",
        "070_roles.sql",
        "080_grants.sql",
        "090_reference_data.sql",
    ]
    database = (ADS / "005_database.sql").read_text()
    assert "-- deploy: no-transaction" in database.splitlines()
    assert "ALTER DATABASE PromptAds SET QUERY_STORE = ON;" in database
    for name in names[1:]:
        assert (ADS / name).read_text().split("\n\n", 1)[1].startswith("USE PromptAds;\nGO\n"), name


@pytest.mark.parametrize("qualified", ETL_SOURCES)
def test_every_etl_source_has_a_rowversion_and_an_index_leading_on_it(model: StoreModel, qualified: str) -> None:
    table = model.table_map[qualified]
    markers = [c.name for c in table.columns if c.type.lower() == "rowversion"]
    assert markers == ["row_ver"]
    leading = [i for i in table.indexes if i.columns[0] == "row_ver"]
    assert len(leading) == 1, f"{qualified} needs exactly one index that seeks on row_ver"
    rendered = (ADS / "040_indexes.sql").read_text()
    assert re.search(rf"CREATE NONCLUSTERED INDEX {leading[0].name}\s+ON {re.escape(qualified)} \(row_ver\)", rendered)
    created = (ADS / "020_tables.sql").read_text()
    assert re.search(rf"CREATE TABLE {re.escape(qualified)} \((?:(?!\);).)*?\n    row_ver rowversion,", created, re.S)


def test_table_types_are_rendered_for_every_tvp(model: StoreModel) -> None:
    types = (ADS / "015_types.sql").read_text()
    for tt in model.table_types:
        assert f"IF TYPE_ID(N'{tt.qualified}') IS NULL\nCREATE TYPE {tt.qualified} AS TABLE (" in types
    assert {tt.qualified for tt in model.table_types} == {
        "ads.ChannelList",
        "ads.MarketList",
        "ads.AudienceList",
        "ads.AdList",
    }


def test_create_campaign_takes_every_list_as_a_readonly_tvp(model: StoreModel, create_campaign: str) -> None:
    params = re.findall(
        r"^\s+(@\w+) ([\w.]+(?:\([\d, ]+\))?)(?: = (?:'[^']*'|\w+))?( READONLY)?( OUTPUT)?,?$", create_campaign, re.M
    )
    by_name = {name: (type_, readonly, output) for name, type_, readonly, output in params}
    type_names = {tt.qualified for tt in model.table_types}
    tvps = {name: t for name, (t, _, _) in by_name.items() if t in type_names}
    assert tvps == {
        "@Channels": "ads.ChannelList",
        "@Markets": "ads.MarketList",
        "@Audiences": "ads.AudienceList",
        "@Ads": "ads.AdList",
    }
    assert all(by_name[name][1] == " READONLY" for name in tvps)
    assert by_name["@CampaignId"][2] == " OUTPUT"
    assert "SELECT @CampaignId AS campaign_id;" in create_campaign


def test_create_campaign_follows_the_course_skeleton(create_campaign: str) -> None:
    header = create_campaign.split("CREATE OR ALTER PROCEDURE", 1)[0]
    for field in ("Author:", "Created:", "Description:", "Parameters:"):
        assert f"-- {field}" in header
    ordered(
        create_campaign,
        r"^    SET NOCOUNT ON;",
        r"^    DECLARE @ErrorNumber INT;",
        r"^    DECLARE @StartedTransaction BIT = 0;",
        r"^    BEGIN TRY",
        r"IF NOT EXISTS \(SELECT 1 FROM ads\.brands",  # reads before the transaction
        r"^        IF @@TRANCOUNT = 0\n        BEGIN\n            SET @StartedTransaction = 1;",
        r"SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\n            BEGIN TRANSACTION;",
        r"INSERT INTO ads\.campaigns",
        r"^        IF @StartedTransaction = 1\n            COMMIT TRANSACTION;",
        r"^    END TRY",
        r"^    BEGIN CATCH",
        r"SET @ErrorNumber = ERROR_NUMBER\(\);\n\s+SET @ErrorSeverity = ERROR_SEVERITY\(\);\n\s+"
        r"SET @ErrorState = ERROR_STATE\(\);\n\s+SET @ErrorMessage = ERROR_MESSAGE\(\);",
        r"IF @StartedTransaction = 1 AND XACT_STATE\(\) <> 0\n\s+ROLLBACK TRANSACTION;",
        r"EXEC ops\.ADSSP_WriteLog",
        r"SET @CustomError = 51000;",
        r"THROW @CustomError, @ErrorMessage, 1;",
        r"^    END CATCH;",
    )
    # Exactly one BEGIN TRANSACTION / COMMIT / ROLLBACK, each guarded by the flag.
    assert create_campaign.count("BEGIN TRANSACTION") == 1
    assert create_campaign.count("COMMIT TRANSACTION") == 1
    assert create_campaign.count("ROLLBACK TRANSACTION") == 1


def test_create_campaign_validation_errors_are_distinct_and_custom(create_campaign: str) -> None:
    numbers = [int(n) for n in re.findall(r"THROW (\d+),", create_campaign)]
    assert len(numbers) == len(set(numbers)) == 11
    assert all(51001 <= n <= 51099 for n in numbers)


def test_create_campaign_inserts_set_based_from_the_tvps(create_campaign: str) -> None:
    assert not re.search(r"\b(WHILE|CURSOR|FETCH)\b", create_campaign)
    for table, tvp in (
        ("ads.campaign_channels", "@Channels"),
        ("ads.campaign_markets", "@Markets"),
        ("ads.campaign_audiences", "@Audiences"),
        ("ads.ads", "@Ads"),
    ):
        assert re.search(
            rf"INSERT INTO {re.escape(table)} \([^)]*\)\n\s+SELECT [^;]*?\n\s+FROM {tvp} AS", create_campaign
        )


def test_every_transactional_procedure_is_built_on_the_skeleton() -> None:
    """Any procedure in any rendered T-SQL file that opens a transaction must come from templates/tsql/_sp.sql.j2."""
    manifest = json.loads((ROOT / "sql" / "manifest.json").read_text())
    checked = 0
    for store in manifest["stores"].values():
        if store["dialect"] != "tsql":
            continue
        for rel in store["deploy"]:
            for name, body in procedures((ROOT / rel).read_text()).items():
                if "BEGIN TRANSACTION" not in body:
                    continue
                checked += 1
                assert "IF @@TRANCOUNT = 0" in body and "@StartedTransaction" in body, name
                assert "-- Procedure:   " + name in (ROOT / rel).read_text(), name
    assert checked >= 1


def test_go_always_stands_alone_on_its_line() -> None:
    """A GO glued to a statement (`END;GO`) is not a batch separator: the server would receive it as T-SQL."""
    manifest = json.loads((ROOT / "sql" / "manifest.json").read_text())
    glued = []
    for store in manifest["stores"].values():
        if store["dialect"] != "tsql":
            continue
        for rel in [*store["deploy"], *store["scripts"]]:
            for number, line in enumerate((ROOT / rel).read_text().splitlines(), 1):
                code = line.split("--", 1)[0]
                if re.search(r"\S\s*\bGO\s*$", code, re.I) and not re.fullmatch(r"\s*GO\s*", code, re.I):
                    glued.append(f"{rel}:{number}: {line.strip()}")
    assert glued == []
