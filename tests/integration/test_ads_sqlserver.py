"""PromptAds on a real SQL Server: the rendered deploy (twice), ADSSP_CreateCampaign with TVPs, its errors and scripts.

Runs only when PROMPTSALES_ADS_URL points at a server the tests may change (it creates the PromptAds database
when missing, and removes the rows it writes); otherwise the whole module is skipped with the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from generators import ads_client
from generators.ads_client import CampaignFailed, CampaignRejected, ChannelShare, NewAd, NewCampaign
from generators.deploy import ROOT, load_manifest, split_batches, store_files
from tests.integration.ads_support import (
    ADS_SKIP_REASON,
    Deployment,
    ads_url_or_none,
    expected_objects,
    missing_objects,
    run,
    scalar,
)

if ads_url_or_none() is None:
    pytest.skip(ADS_SKIP_REASON, allow_module_level=True)

SOURCE = "ads.ADSSP_CreateCampaign"
CAMPAIGN_TABLES = (
    "ads.campaigns",
    "ads.campaign_channels",
    "ads.campaign_markets",
    "ads.campaign_audiences",
    "ads.ads",
)
SCRIPTS = load_manifest()["stores"]["ads"].get("scripts", [])


@dataclass(frozen=True)
class World:
    """Rows this module owns on the server: one brand, one influencer and one audience, with a unique tag."""

    tag: str
    brand_id: int
    influencer_id: int
    influencer_handle: str
    audience_code: str


@pytest.fixture(scope="module")
def conn(ads_deployment: Deployment, ads_connect: Callable[..., Any]) -> Any:
    """An autocommit connection to PromptAds: ADSSP_CreateCampaign runs its own transaction."""
    return ads_connect()


@pytest.fixture(scope="module")
def world(conn: Any) -> Iterator[World]:
    tag = uuid.uuid4().hex[:10]
    handle, audience = f"@it_{tag}", f"it_{tag}"
    brand_id = scalar(
        conn,
        "INSERT INTO ads.brands (brand_name, advertiser_name, industry, country_code) OUTPUT inserted.brand_id"
        " VALUES (%s, N'Integration tests', N'testing', 'CR');",
        (f"it-brand-{tag}",),
    )
    influencer_id = scalar(
        conn,
        "INSERT INTO ads.influencers (handle, display_name, home_channel_code, followers, niche)"
        " OUTPUT inserted.influencer_id VALUES (%s, N'Integration Ana', 'instagram', 120000, N'lifestyle');",
        (handle,),
    )
    run(
        conn,
        "SET NOCOUNT ON; INSERT INTO ads.audiences (audience_code, description, age_min, age_max, interests)"
        " VALUES (%s, N'Urban adults for the integration tests', 18, 35, N'coffee, cycling');",
        (audience,),
    )
    yield World(tag, brand_id, influencer_id, handle, audience)
    run(
        conn,
        """
        SET NOCOUNT ON;
        DECLARE @ids TABLE (campaign_id int PRIMARY KEY);
        INSERT @ids SELECT campaign_id FROM ads.campaigns WHERE brand_id = %s;
        DELETE FROM ads.ads WHERE campaign_id IN (SELECT campaign_id FROM @ids);
        DELETE FROM ads.campaign_audiences WHERE campaign_id IN (SELECT campaign_id FROM @ids);
        DELETE FROM ads.campaign_markets WHERE campaign_id IN (SELECT campaign_id FROM @ids);
        DELETE FROM ads.campaign_channels WHERE campaign_id IN (SELECT campaign_id FROM @ids);
        DELETE FROM ads.campaigns WHERE campaign_id IN (SELECT campaign_id FROM @ids);
        DELETE FROM ads.brands WHERE brand_id = %s;
        DELETE FROM ads.influencers WHERE influencer_id = %s;
        DELETE FROM ads.audiences WHERE audience_code = %s;
        """,
        (brand_id, brand_id, influencer_id, audience),
    )


def new_campaign(world: World, name: str, **changes: Any) -> NewCampaign:
    base = NewCampaign(
        brand_id=world.brand_id,
        campaign_name=f"{name} {world.tag}",
        objective="awareness",
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 31),
        budget_usd=Decimal("25000.50"),
        channels=[ChannelShare("facebook", Decimal("0.6")), ChannelShare("instagram", Decimal("0.4"))],
        markets=["US-NY", "CR-SJ"],
        audiences=[world.audience_code],
        ads=[
            NewAd(30, "instagram", "Café ☕ en primavera", "image", influencer_handle=world.influencer_handle),
            NewAd(10, "facebook", "Spring is here", "video", content_asset_id="65f1a2b3c4d5e6f708192a3b"),
            NewAd(20, "facebook", "Last days of spring", "carousel"),
        ],
    )
    return replace(base, **changes)


def counts(conn: Any) -> dict[str, int]:
    sql = "SET NOCOUNT ON; SELECT " + ", ".join(f"(SELECT COUNT_BIG(*) FROM {t})" for t in CAMPAIGN_TABLES) + ";"
    row = run(conn, sql)[0][0]
    return dict(zip(CAMPAIGN_TABLES, (int(v) for v in row), strict=True))


def last_log_id(conn: Any) -> int:
    return int(scalar(conn, "SELECT ISNULL(MAX(log_id), 0) FROM ops.log"))


def log_rows_since(conn: Any, log_id: int) -> list[tuple[Any, ...]]:
    """(severity, error_number, message, context) of the procedure's log rows written after log_id."""
    return run(
        conn,
        "SET NOCOUNT ON; SELECT severity, error_number, message, context FROM ops.log"
        " WHERE log_id > %s AND source = %s ORDER BY log_id;",
        (log_id, SOURCE),
    )[0]


# --------------------------------------------------------------------------- deploy


def test_every_file_deploys_in_manifest_order_and_a_second_run_changes_nothing(
    ads_deployment: Deployment, conn: Any
) -> None:
    files = store_files("ads")
    assert [r.file for r in ads_deployment.first] == files
    assert [r.file for r in ads_deployment.second] == files
    assert ads_deployment.catalog_after_second == ads_deployment.catalog_after_first
    assert ads_deployment.sentinel_survived, "the second deploy lost a row written after the first"
    assert missing_objects(conn, expected_objects(files)) == []


def test_the_database_step_set_full_recovery_and_query_store(ads_deployment: Deployment, conn: Any) -> None:
    database = load_manifest()["stores"]["ads"]["database"]
    settings = run(
        conn,
        "SET NOCOUNT ON; SELECT recovery_model_desc, is_query_store_on FROM sys.databases WHERE name = %s;",
        (database,),
    )[0]
    assert settings == [("FULL", True)]


# --------------------------------------------------------------------------- ADSSP_CreateCampaign from Python


def test_create_campaign_with_tvps_writes_every_row_and_logs_it(conn: Any, world: World) -> None:
    before_log = last_log_id(conn)
    campaign = new_campaign(world, "Spring launch")
    campaign_id = ads_client.create_campaign(conn, campaign)

    row = run(
        conn,
        "SET NOCOUNT ON; SELECT brand_id, campaign_name, objective, campaign_status, starts_on, ends_on, budget_usd"
        " FROM ads.campaigns WHERE campaign_id = %s;",
        (campaign_id,),
    )[0]
    assert row == [
        (
            world.brand_id,
            campaign.campaign_name,
            "awareness",
            "draft",
            date(2026, 3, 1),
            date(2026, 3, 31),
            Decimal("25000.50"),
        )
    ]
    channels = run(
        conn,
        "SET NOCOUNT ON; SELECT channel_code, budget_share FROM ads.campaign_channels WHERE campaign_id = %s"
        " ORDER BY channel_code;",
        (campaign_id,),
    )[0]
    assert channels == [("facebook", Decimal("0.6000")), ("instagram", Decimal("0.4000"))]
    markets = run(
        conn,
        "SET NOCOUNT ON; SELECT market_code FROM ads.campaign_markets WHERE campaign_id = %s ORDER BY 1;",
        (campaign_id,),
    )[0]
    assert markets == [("CR-SJ",), ("US-NY",)]
    audiences = run(
        conn, "SET NOCOUNT ON; SELECT audience_code FROM ads.campaign_audiences WHERE campaign_id = %s;", (campaign_id,)
    )[0]
    assert audiences == [(world.audience_code,)]
    # Identity values follow ad_key (10, 20, 30), whatever order the rows came in; NULLs arrive as NULL.
    ads = run(
        conn,
        "SET NOCOUNT ON; SELECT channel_code, influencer_id, headline, format, content_asset_id FROM ads.ads"
        " WHERE campaign_id = %s ORDER BY ad_id;",
        (campaign_id,),
    )[0]
    assert ads == [
        ("facebook", None, "Spring is here", "video", "65f1a2b3c4d5e6f708192a3b"),
        ("facebook", None, "Last days of spring", "carousel", None),
        ("instagram", world.influencer_id, "Café ☕ en primavera", "image", None),
    ]
    (severity, error_number, message, context), *rest = log_rows_since(conn, before_log)
    assert rest == [] and (severity, error_number, message) == ("info", None, "campaign created")
    assert json.loads(context) == {
        "campaign_id": campaign_id,
        "brand_id": world.brand_id,
        "channels": 2,
        "markets": 2,
        "ads": 3,
    }


def test_the_tsql_call_of_the_docs_returns_the_id_as_output_and_result_set(conn: Any, world: World) -> None:
    name = f"From T-SQL {world.tag}"
    sets = run(
        conn,
        """
        SET NOCOUNT ON;
        DECLARE @ch ads.ChannelList;  INSERT @ch (channel_code, budget_share) VALUES ('email', 0.25), ('sms', 0.75);
        DECLARE @mk ads.MarketList;   INSERT @mk (market_code) VALUES ('CR-SJ');
        DECLARE @au ads.AudienceList;
        DECLARE @ad ads.AdList;
        INSERT @ad (ad_key, channel_code, headline, format) VALUES (1, 'email', N'Hola', 'email');
        DECLARE @id INT;
        EXEC ads.ADSSP_CreateCampaign @BrandId = %s, @CampaignName = %s, @Objective = 'retention',
            @StartsOn = '2026-05-01', @EndsOn = '2026-05-31', @BudgetUsd = 1200.00, @Status = 'active',
            @Channels = @ch, @Markets = @mk, @Audiences = @au, @Ads = @ad, @CampaignId = @id OUTPUT;
        SELECT @id AS campaign_id_output;
        """,
        (world.brand_id, name),
    )
    (result_set_id,), (output_id,) = sets[0][0], sets[1][0]
    assert result_set_id == output_id
    assert scalar(conn, "SELECT campaign_status FROM ads.campaigns WHERE campaign_id = %s", (output_id,)) == "active"


@pytest.mark.parametrize(
    ("number", "changes"),
    [
        pytest.param(51001, {"brand_id": -1}, id="51001-unknown-brand"),
        pytest.param(51002, {"ends_on": date(2026, 2, 28)}, id="51002-period"),
        pytest.param(51003, {"budget_usd": Decimal("0")}, id="51003-budget"),
        pytest.param(51004, {"channels": [], "ads": []}, id="51004-no-channels"),
        pytest.param(
            51004,
            {"channels": [ChannelShare("facebook", Decimal("0.5")), ChannelShare("instagram", Decimal("0.4"))]},
            id="51004-shares-not-1",
        ),
        pytest.param(51005, {"channels": [ChannelShare("myspace", Decimal("1"))], "ads": []}, id="51005-channel"),
        pytest.param(51006, {"markets": ["US-NY", "ZZ-ZZ"]}, id="51006-market"),
        pytest.param(51011, {"markets": []}, id="51011-no-market"),
        pytest.param(51007, {"audiences": ["nobody_at_all"]}, id="51007-audience"),
        pytest.param(51008, {"ads": [NewAd(1, "tiktok", "Wrong channel", "video")]}, id="51008-ad-channel"),
        pytest.param(
            51009,
            {"ads": [NewAd(1, "instagram", "Who?", "image", influencer_handle="@nobody_x")]},
            id="51009-influencer",
        ),
    ],
)
def test_a_rejected_campaign_writes_nothing_and_logs_the_error(
    conn: Any, world: World, number: int, changes: dict[str, Any]
) -> None:
    before, before_log = counts(conn), last_log_id(conn)
    with pytest.raises(CampaignRejected) as caught:
        ads_client.create_campaign(conn, new_campaign(world, f"Rejected {number}", **changes))
    assert caught.value.number == number
    assert counts(conn) == before
    assert [row[:3] for row in log_rows_since(conn, before_log)] == [("error", number, caught.value.message)]


def test_a_second_campaign_with_the_same_name_is_rejected_with_51010(conn: Any, world: World) -> None:
    ads_client.create_campaign(conn, new_campaign(world, "Twice"))
    before, before_log = counts(conn), last_log_id(conn)
    with pytest.raises(CampaignRejected) as caught:
        ads_client.create_campaign(conn, new_campaign(world, "Twice", budget_usd=Decimal("1.00")))
    assert caught.value.number == 51010
    assert counts(conn) == before
    assert [row[:2] for row in log_rows_since(conn, before_log)] == [("error", 51010)]


def test_an_engine_error_midway_rolls_back_the_campaign_and_is_wrapped_as_51000(conn: Any, world: World) -> None:
    # The procedure does not validate formats; ck_ads_format fails on the last insert, after the campaign row.
    before, before_log = counts(conn), last_log_id(conn)
    with pytest.raises(CampaignFailed) as caught:
        ads_client.create_campaign(
            conn, new_campaign(world, "Hologram", ads=[NewAd(1, "facebook", "Future", "hologram")])
        )
    assert caught.value.number == 51000 and "547" in caught.value.message
    assert counts(conn) == before
    # The log keeps the engine's own error number; the caller sees the wrapper.
    assert [row[:2] for row in log_rows_since(conn, before_log)] == [("error", 547)]


# --------------------------------------------------------------------------- transactions


def test_inside_a_callers_tsql_transaction_the_procedure_does_not_commit(conn: Any, world: World) -> None:
    name = f"Caller tx {world.tag}"
    sets = run(
        conn,
        """
        SET NOCOUNT ON;
        BEGIN TRANSACTION;
        DECLARE @ch ads.ChannelList;  INSERT @ch VALUES ('youtube', 1.0);
        DECLARE @mk ads.MarketList;   INSERT @mk VALUES ('GB-LND');
        DECLARE @au ads.AudienceList; DECLARE @ad ads.AdList;
        EXEC ads.ADSSP_CreateCampaign @BrandId = %s, @CampaignName = %s, @Objective = 'awareness',
            @StartsOn = '2026-06-01', @EndsOn = '2026-06-30', @BudgetUsd = 500,
            @Channels = @ch, @Markets = @mk, @Audiences = @au, @Ads = @ad;
        SELECT @@TRANCOUNT AS open_transactions,
            (SELECT COUNT(*) FROM ads.campaigns WHERE brand_id = %s AND campaign_name = %s) AS visible_inside;
        ROLLBACK TRANSACTION;
        SELECT COUNT(*) AS after_rollback FROM ads.campaigns WHERE brand_id = %s AND campaign_name = %s;
        """,
        (world.brand_id, name, world.brand_id, name, world.brand_id, name),
    )
    assert sets[1] == [(1, 1)]  # still the caller's one transaction, with the campaign in it
    assert sets[2] == [(0,)]


def test_inside_a_python_transaction_the_callers_rollback_undoes_the_campaign(
    ads_connect: Callable[..., Any], conn: Any, world: World
) -> None:
    caller = ads_connect(autocommit=False)  # pytds opens a transaction; the procedure joins it
    campaign = new_campaign(world, "Python tx")
    campaign_id = ads_client.create_campaign(caller, campaign)
    assert scalar(caller, "SELECT @@TRANCOUNT") == 1
    assert scalar(caller, "SELECT COUNT(*) FROM ads.ads WHERE campaign_id = %s", (campaign_id,)) == 3
    caller.rollback()
    assert scalar(conn, "SELECT COUNT(*) FROM ads.campaigns WHERE campaign_id = %s", (campaign_id,)) == 0


# --------------------------------------------------------------------------- roles


def test_the_ads_app_role_can_create_a_campaign_with_tvps(
    ads_connect: Callable[..., Any], conn: Any, world: World
) -> None:
    # ads_app "creates campaigns through the procedure"; declaring a TVP also needs EXECUTE on its table type.
    user = f"it_app_{world.tag}"  # hex only: safe to put in the text, where EXECUTE AS must be (see below)
    run(conn, f"CREATE USER [{user}] WITHOUT LOGIN; ALTER ROLE ads_app ADD MEMBER [{user}];")
    app = ads_connect()  # its own session: the impersonation ends with it, whatever fails
    try:
        # A plain batch, not sp_executesql: an EXECUTE AS inside dynamic SQL reverts when that scope ends.
        run(app, f"EXECUTE AS USER = N'{user}';")
        assert scalar(app, "SELECT USER_NAME()") == user
        campaign_id = ads_client.create_campaign(app, new_campaign(world, "As ads_app"))
        run(app, "REVERT;")
    finally:
        app.close()
        run(conn, f"DROP USER [{user}];")
    assert scalar(conn, "SELECT COUNT(*) FROM ads.campaigns WHERE campaign_id = %s", (campaign_id,)) == 1


# --------------------------------------------------------------------------- scripts


@pytest.mark.parametrize(
    "rel",
    SCRIPTS
    or [pytest.param(None, id="none-yet", marks=pytest.mark.skip(reason="sql/manifest.json lists no ads scripts yet"))],
)
def test_every_script_of_the_manifest_runs_without_error(
    ads_deployment: Deployment, ads_connect: Callable[..., Any], rel: str
) -> None:
    session = ads_connect()
    batches = list(split_batches((ROOT / rel).read_text(encoding="utf-8")))
    assert batches, f"{rel} has no batch"
    try:
        for index, batch in enumerate(batches):
            try:
                run(session, batch)
            except Exception as exc:  # name the batch: a script has many
                raise AssertionError(f"{rel}: batch {index + 1} of {len(batches)} failed: {exc}") from exc
    finally:
        session.close()
