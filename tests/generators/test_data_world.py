"""The seeded world: counts, calendar, status split, cross-store coherence, model constraints, national IDs,
sentiment cases, content documents, determinism, and the full-scale time and memory budget."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generators.content_validation import validate_document
from generators.data.tables import Brand, CampaignFacts, TableData, batch_sha256
from generators.data.world import AS_OF, World, WorldScale, build_world
from generators.model import StoreModel, load_model

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260131
SMALL = WorldScale(campaigns=240, clients=30_000, images=100, content_campaigns=40, content_requests=20)
TINY = WorldScale(
    campaigns=30, clients=4_000, images=30, brands=12, influencers=60, content_campaigns=10, content_requests=5
)
Columns = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def collect(table: TableData, batch_rows: int = 7_777) -> Columns:
    """Every batch of a table, concatenated column by column."""
    parts: dict[str, list[Any]] = {c: [] for c in table.columns}
    for batch in table.batches(batch_rows):
        for c in table.columns:
            parts[c].append(batch[c])
    out: Columns = {}
    for c, pieces in parts.items():
        if pieces and all(isinstance(p, np.ndarray) and p.dtype != object for p in pieces):
            out[c] = np.concatenate(pieces)
        else:
            merged: list[Any] = []
            for p in pieces:
                merged.extend(list(p))
            out[c] = merged
    return out


def as_array(values: Any) -> np.ndarray:
    return values if isinstance(values, np.ndarray) else np.array(values, dtype=object)


def seconds(values: Any) -> np.ndarray:
    """datetime64 or a list of datetimes/None as epoch seconds (NaT/None as int64 min)."""
    if isinstance(values, np.ndarray):
        return values.astype("datetime64[s]").astype(np.int64)
    return np.array(
        [np.iinfo(np.int64).min if v is None else int(np.datetime64(v, "s").astype(np.int64)) for v in values],
        dtype=np.int64,
    )


@pytest.fixture(scope="module")
def models() -> dict[str, StoreModel]:
    return {store: load_model(ROOT / "model" / f"{store}.yaml") for store in ("ads", "crm")}


@pytest.fixture(scope="module")
def small() -> World:
    return build_world(SEED, SMALL)


@pytest.fixture(scope="module")
def full() -> World:
    """The acceptance-scale world's facts (cheap: tables are generated only when iterated)."""
    return build_world(SEED)


@pytest.fixture(scope="module")
def tables(small: World) -> dict[str, Columns]:
    """Every generated row of the small world, per `store:table`."""
    out = {}
    for store in ("ads", "crm", "content"):
        for table in small.tables(store):
            out[f"{store}:{table.table}"] = collect(table)
    return out


@pytest.fixture(scope="module")
def table_data(small: World) -> dict[str, TableData]:
    return {f"{store}:{t.table}": t for store in ("ads", "crm", "content") for t in small.tables(store)}


# --------------------------------------------------------------------------- counts, calendar, status


def test_full_scale_counts_are_known_without_generating(full: World) -> None:
    summary = full.summary()
    rows = summary.rows
    assert rows["ads:ads.campaigns"] == len(full.campaigns) >= 1_000
    assert rows["crm:crm.clients"] == rows["crm:crm.client_locations"] >= 500_000
    assert rows["content:images"] >= 100
    assert rows["ads:perf.daily_results"] == sum(p.n_ads * p.n_markets * p.n_days for p in full.plans)
    assert rows["crm:sales.sales"] == sum(c.sales_count for c in full.campaigns)
    assert summary.seed == SEED and summary.as_of == AS_OF == date(2026, 1, 31)


@pytest.mark.parametrize("which", ["small", "full"])
def test_thirty_percent_active_running_on_the_as_of_date_seventy_finished(which: str, request: Any) -> None:
    world: World = request.getfixturevalue(which)
    status = Counter(c.status for c in world.campaigns)
    n = len(world.campaigns)
    assert status["active"] == round(0.3 * n) and status["finished"] == n - round(0.3 * n)
    for c in world.campaigns:
        assert date(2024, 7, 1) <= c.starts_on <= AS_OF
        if c.status == "active":
            assert c.ends_on >= AS_OF
        else:
            assert c.starts_on <= c.ends_on < AS_OF
    assert any(c.ends_on > date(2026, 1, 31) for c in world.campaigns if c.status == "active")


@pytest.mark.parametrize("which", ["small", "full"])
def test_november_december_and_january_peak_at_least_1_8_times_the_median_month(which: str, request: Any) -> None:
    world: World = request.getfixturevalue(which)
    per_month = Counter((c.starts_on.year, c.starts_on.month) for c in world.campaigns)
    months = [(y, m) for y in (2024, 2025, 2026) for m in range(1, 13) if (2024, 7) <= (y, m) <= (2026, 1)]
    assert set(per_month) == set(months)  # every month of the window has starts
    median = float(np.median([per_month[m] for m in months]))
    peaks = [m for m in months if m[1] in (11, 12, 1)]
    assert len(peaks) == 6
    for month in peaks:
        assert per_month[month] >= 1.8 * median, (month, per_month[month], median)


def test_budget_shares_add_up_to_exactly_one_within_the_check(tables: dict[str, Columns]) -> None:
    cc = tables["ads:ads.campaign_channels"]
    e4 = np.round(cc["budget_share"] * 10_000).astype(np.int64)
    assert np.allclose(e4, cc["budget_share"] * 10_000)  # four decimals exactly: decimal(5,4)
    totals = defaultdict(int)
    for cid, share in zip(cc["campaign_id"].tolist(), e4.tolist(), strict=True):
        totals[cid] += share
    assert set(totals.values()) == {10_000}
    assert ((cc["budget_share"] > 0) & (cc["budget_share"] <= 1)).all()


# --------------------------------------------------------------------------- coherence across stores


def _per_campaign_results(world: World, results: Columns) -> dict[str, dict[int, int]]:
    campaign_of_ad = {int(a): p.campaign_id for p in world.plans for a in p.ad_ids}
    cid = np.array([campaign_of_ad[a] for a in results["ad_id"].tolist()])
    out: dict[str, dict[int, int]] = {}
    for name, values in (
        ("sales", results["sales"].astype(np.int64)),
        ("revenue", np.round(results["revenue_usd"] * 100).astype(np.int64)),
        ("reach", results["reach"].astype(np.int64)),
        ("cost", np.round(results["cost_usd"] * 100).astype(np.int64)),
        ("rows", np.ones(cid.size, dtype=np.int64)),
    ):
        sums = defaultdict(int)
        for k, v in zip(cid.tolist(), values.tolist(), strict=True):
            sums[k] += v
        out[name] = dict(sums)
    return out


def _per_campaign_sales(sales: Columns) -> tuple[Counter[int], dict[int, int]]:
    count = Counter(sales["campaign_id"].tolist())
    cents = defaultdict(int)
    for k, v in zip(
        sales["campaign_id"].tolist(), np.round(sales["amount_usd"] * 100).astype(np.int64).tolist(), strict=True
    ):
        cents[k] += v
    return count, dict(cents)


def test_crm_sales_count_and_amount_equal_ads_sales_and_revenue_to_the_cent(
    small: World, tables: dict[str, Columns]
) -> None:
    ads = _per_campaign_results(small, tables["ads:perf.daily_results"])
    count, cents = _per_campaign_sales(tables["crm:sales.sales"])
    for c in small.campaigns:
        assert ads["sales"].get(c.campaign_id, 0) == count.get(c.campaign_id, 0) == c.sales_count
        assert ads["revenue"].get(c.campaign_id, 0) == cents.get(c.campaign_id, 0) == c.revenue_cents
    assert sum(count.values()) > 0


def test_full_scale_sales_and_revenue_match_per_campaign(full: World) -> None:
    by_name = {t.table: t for t in full.tables("ads") + full.tables("crm")}
    results = collect_columns(by_name["perf.daily_results"], ("ad_id", "sales", "revenue_usd", "reach", "cost_usd"))
    sales = collect_columns(by_name["sales.sales"], ("campaign_id", "amount_usd"))
    ads = _per_campaign_results(full, results)
    count, cents = _per_campaign_sales(sales)
    mismatches = [
        c.campaign_id
        for c in full.campaigns
        if not (
            ads["sales"].get(c.campaign_id, 0) == count.get(c.campaign_id, 0) == c.sales_count
            and ads["revenue"].get(c.campaign_id, 0) == cents.get(c.campaign_id, 0) == c.revenue_cents
            and ads["reach"][c.campaign_id] == c.reach >= c.linked_clients
        )
    ]
    assert mismatches == []


def collect_columns(table: TableData, columns: Iterable[str]) -> Columns:
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for batch in table.batches(50_000):
        for c in parts:
            parts[c].append(np.asarray(batch[c]))
    return {c: np.concatenate(p) for c, p in parts.items()}


def test_every_sale_matches_an_ad_result_with_sales_on_its_day_channel_and_market(
    small: World, tables: dict[str, Columns]
) -> None:
    results, sales = tables["ads:perf.daily_results"], tables["crm:sales.sales"]
    ad_key = {int(a): (p.campaign_id, p.channel_of_ad(k)) for p in small.plans for k, a in enumerate(p.ad_ids)}
    ads_cells: Counter[tuple[Any, ...]] = Counter()
    ads_cents: Counter[tuple[Any, ...]] = Counter()
    for ad, market, day, n, rev in zip(
        results["ad_id"].tolist(),
        results["market_code"],
        results["result_date"].tolist(),
        results["sales"].tolist(),
        np.round(results["revenue_usd"] * 100).astype(np.int64).tolist(),
        strict=True,
    ):
        if n:
            key = (*ad_key[ad], market, day)
            ads_cells[key] += n
            ads_cents[key] += rev
    crm_cells: Counter[tuple[Any, ...]] = Counter()
    crm_cents: Counter[tuple[Any, ...]] = Counter()
    for cid, ch, market, day, cents in zip(
        sales["campaign_id"].tolist(),
        sales["channel_code"],
        sales["market_code"],
        sales["sale_date"].tolist(),
        np.round(sales["amount_usd"] * 100).astype(np.int64).tolist(),
        strict=True,
    ):
        crm_cells[(cid, ch, market, day)] += 1
        crm_cents[(cid, ch, market, day)] += cents
    assert crm_cells == ads_cells
    assert crm_cents == ads_cents


def test_each_campaign_links_400_to_1000_distinct_clients_mostly_of_its_markets(
    small: World, tables: dict[str, Columns]
) -> None:
    links = tables["crm:crm.client_campaigns"]
    clients = tables["crm:crm.clients"]
    market_of = dict(zip(clients["client_id"].tolist(), clients["market_code"], strict=True))
    per: dict[int, list[int]] = defaultdict(list)
    for cid, client in zip(links["campaign_id"].tolist(), links["client_id"].tolist(), strict=True):
        per[cid].append(client)
    markets_of = {c.campaign_id: set(c.markets) for c in small.campaigns}
    for c in small.campaigns:
        ids = per[c.campaign_id]
        assert 400 <= len(set(ids)) == len(ids) == c.linked_clients <= 1000
        inside = sum(market_of[i] in markets_of[c.campaign_id] for i in ids)
        assert inside / len(ids) >= 0.85


def test_crm_reach_is_never_above_the_ads_reach(small: World, tables: dict[str, Columns]) -> None:
    reach = _per_campaign_results(small, tables["ads:perf.daily_results"])["reach"]
    linked = Counter(tables["crm:crm.client_campaigns"]["campaign_id"].tolist())
    for c in small.campaigns:
        assert linked[c.campaign_id] <= reach[c.campaign_id] == c.reach


def test_converted_means_bought_and_buyers_were_linked_before_their_first_purchase(tables: dict[str, Columns]) -> None:
    links, sales = tables["crm:crm.client_campaigns"], tables["crm:sales.sales"]
    converted = {
        (cid, client)
        for cid, client, conv in zip(
            links["campaign_id"].tolist(), links["client_id"].tolist(), links["converted"].tolist(), strict=True
        )
        if conv
    }
    first_sale: dict[tuple[int, int], int] = {}
    for cid, client, at in zip(
        sales["campaign_id"].tolist(), sales["client_id"].tolist(), seconds(sales["sold_at"]).tolist(), strict=True
    ):
        first_sale[(cid, client)] = min(at, first_sale.get((cid, client), at))
    assert set(first_sale) == converted
    linked_at = dict(
        zip(
            zip(links["campaign_id"].tolist(), links["client_id"].tolist(), strict=True),
            seconds(links["linked_at"]).tolist(),
            strict=True,
        )
    )
    assert all(linked_at[key] <= at for key, at in first_sale.items())
    leads = tables["crm:crm.leads"]
    won = {
        (cid, client): closed
        for cid, client, status, closed in zip(
            leads["campaign_id"],
            leads["client_id"].tolist(),
            leads["lead_status"],
            seconds(leads["closed_at"]).tolist(),
            strict=True,
        )
        if status == "won"
    }
    assert won == first_sale  # one won lead per buyer, closed at the first purchase


def test_sales_happen_on_days_of_the_campaign_and_near_their_market(small: World, tables: dict[str, Columns]) -> None:
    from generators.data.people import haversine_km
    from generators.data.reference import markets

    sales = tables["crm:sales.sales"]
    window = {c.campaign_id: (c.starts_on, min(c.ends_on, AS_OF)) for c in small.campaigns}
    for cid, day in zip(sales["campaign_id"].tolist(), sales["sale_date"].tolist(), strict=True):
        assert window[cid][0] <= day <= window[cid][1]
    where = {m.code: (m.latitude, m.longitude) for m in markets()}
    lat = np.array([where[m][0] for m in sales["market_code"]])
    lon = np.array([where[m][1] for m in sales["market_code"]])
    distance = haversine_km(sales["latitude"], sales["longitude"], lat, lon)
    assert np.median(distance) < 25 and distance.max() < 400


def test_purchase_intent_is_higher_for_buyers_and_rises_with_the_purchase_rate(tables: dict[str, Columns]) -> None:
    scores, links = tables["crm:crm.purchase_intent_scores"], tables["crm:crm.client_campaigns"]
    latest: dict[tuple[int, int], tuple[int, float]] = {}
    for client, cid, at, score in zip(
        scores["client_id"].tolist(),
        scores["campaign_id"].tolist(),
        seconds(scores["scored_at"]).tolist(),
        scores["score"].tolist(),
        strict=True,
    ):
        if (client, cid) not in latest or at > latest[(client, cid)][0]:
            latest[(client, cid)] = (at, score)
    converted = dict(
        zip(
            zip(links["client_id"].tolist(), links["campaign_id"].tolist(), strict=True),
            links["converted"].tolist(),
            strict=True,
        )
    )
    assert set(latest) == set(converted)  # every link is scored
    buyer = np.array([converted[k] for k in latest])
    score = np.array([v[1] for v in latest.values()])
    assert score[buyer].mean() > score[~buyer].mean() + 0.3
    band = np.minimum((score * 5).astype(int), 4)
    rates = [buyer[band == b].mean() for b in range(5) if (band == b).sum() >= 30]
    assert len(rates) >= 3 and rates == sorted(rates)


# --------------------------------------------------------------------------- the models' constraints


def _model_table(models: dict[str, StoreModel], key: str) -> Any:
    store, table = key.split(":")
    return models[store].table_map[table]


SQL_TABLES = [
    "ads:ads.audiences",
    "ads:ads.brands",
    "ads:ads.influencers",
    "ads:ads.campaigns",
    "ads:ads.campaign_channels",
    "ads:ads.campaign_markets",
    "ads:ads.campaign_audiences",
    "ads:ads.ads",
    "ads:perf.daily_results",
    "ads:perf.social_reactions",
    "crm:crm.clients",
    "crm:crm.client_locations",
    "crm:crm.client_campaigns",
    "crm:crm.leads",
    "crm:crm.interactions",
    "crm:crm.bot_flows",
    "crm:crm.bot_responses",
    "crm:crm.purchase_intent_scores",
    "crm:sales.sales",
]


def test_the_generated_tables_are_the_models_tables_in_foreign_key_order(
    small: World, models: dict[str, StoreModel]
) -> None:
    generated = [f"{s}:{t.table}" for s in ("ads", "crm") for t in small.tables(s)]
    assert generated == SQL_TABLES
    for store in ("ads", "crm"):
        position = {t.table: i for i, t in enumerate(small.tables(store))}
        for name in position:
            for fk in models[store].table_map[name].foreign_keys:
                if fk.references in position:
                    assert position[fk.references] < position[name], (name, fk.references)
        # Reference tables the models deploy with rows are not generated again.
        for name, table in models[store].table_map.items():
            if table.rows:
                assert name not in position


STRING_TYPE = re.compile(r"^n?(var)?char\((\d+|max)\)$")
DECIMAL_TYPE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
INT_RANGES = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


@pytest.mark.parametrize("key", SQL_TABLES)
def test_columns_types_lengths_and_nullability_follow_the_model(
    key: str, models: dict[str, StoreModel], tables: dict[str, Columns], table_data: dict[str, TableData]
) -> None:
    model = _model_table(models, key)
    data, meta = tables[key], table_data[key]
    columns = {c.name: c for c in model.columns}
    server_side = " ".join(f"{k} {v}" for k, v in meta.server_side.items())
    for name in meta.columns:
        assert name in columns or name in meta.server_side, f"{key}.{name} is not in the model"
    for column in model.columns:
        supplied = column.name in meta.columns
        if column.type == "rowversion" or column.name in meta.server_side or column.name in server_side:
            continue
        if column.identity:
            assert supplied and meta.explicit_identity, f"{key}.{column.name}: identity values must be supplied"
        elif not column.nullable and column.default is None:
            assert supplied, f"{key}.{column.name} is NOT NULL without a default"
        if not supplied:
            continue
        values = data[column.name]
        if not column.nullable:
            assert not any(v is None for v in (values if isinstance(values, list) else [])), f"{key}.{column.name}"
        present = [v for v in (values if isinstance(values, list) else values.tolist()) if v is not None]
        kind = column.type.lower()
        if m := STRING_TYPE.match(kind):
            assert all(isinstance(v, str) for v in present), f"{key}.{column.name} holds non-strings"
            if m.group(2) != "max":
                limit = int(m.group(2))
                assert max((len(v) for v in present), default=0) <= limit, f"{key}.{column.name} longer than {limit}"
                if kind.startswith("char("):
                    assert {len(v) for v in present} <= {limit}, f"{key}.{column.name} must be {limit} characters"
        elif kind in INT_RANGES:
            lo, hi = INT_RANGES[kind]
            assert all(isinstance(v, int) and lo <= v <= hi for v in present), f"{key}.{column.name} out of {kind}"
        elif kind == "bit":
            assert isinstance(values, np.ndarray) and values.dtype == bool, f"{key}.{column.name} must be booleans"
        elif kind == "date":
            assert isinstance(values, np.ndarray) and values.dtype == np.dtype("datetime64[D]")
        elif kind.startswith("datetime2"):
            assert all(isinstance(v, datetime) for v in present), f"{key}.{column.name} must be datetimes"
        elif m := DECIMAL_TYPE.match(kind):
            precision, scale = int(m.group(1)), int(m.group(2))
            arr = np.asarray(values, dtype=np.float64)
            assert np.allclose(arr * 10**scale, np.round(arr * 10**scale), rtol=0, atol=1e-6), f"{key}.{column.name}"
            assert (np.abs(arr) < 10 ** (precision - scale)).all(), f"{key}.{column.name} overflows {kind}"


def _checks() -> dict[str, Callable[[Columns], np.ndarray]]:
    """Python versions of the models' CHECK constraints on generated tables: each returns a per-row truth array."""

    def isin(values: Any, allowed: set[str]) -> np.ndarray:
        return np.array([v in allowed for v in values])

    def day_of(values: np.ndarray) -> np.ndarray:
        return values.astype("datetime64[D]")

    negative_kinds = {"complaint", "offensive", "misleading", "pricing", "quality", "boycott", "spam"}
    return {
        "ck_audiences_ages": lambda t: (t["age_min"] >= 13) & (t["age_max"] >= t["age_min"]) & (t["age_max"] <= 99),
        "ck_influencers_followers": lambda t: t["followers"] >= 0,
        "ck_campaigns_period": lambda t: t["ends_on"] >= t["starts_on"],
        "ck_campaigns_budget": lambda t: t["budget_usd"] > 0,
        "ck_campaigns_objective": lambda t: isin(
            t["objective"], {"awareness", "consideration", "conversion", "retention"}
        ),
        "ck_campaigns_status": lambda t: isin(t["campaign_status"], {"draft", "active", "paused", "finished"}),
        "ck_campaign_channels_share": lambda t: (t["budget_share"] > 0) & (t["budget_share"] <= 1),
        "ck_ads_format": lambda t: isin(t["format"], {"image", "video", "carousel", "story", "text", "email", "sms"}),
        "ck_daily_results_nonnegative": lambda t: np.all(
            [
                t[c] >= 0
                for c in (
                    "likes",
                    "views",
                    "interactions",
                    "shares",
                    "comments",
                    "sales",
                    "reach",
                    "cost_usd",
                    "revenue_usd",
                    "exposure_hours",
                )
            ],
            axis=0,
        ),
        "ck_social_reactions_kind": lambda t: isin(t["reaction_kind"], {"like", "share", "comment", "mention"}),
        "ck_social_reactions_sentiment": lambda t: isin(t["sentiment"], {"positive", "neutral", "negative"}),
        "ck_social_reactions_negative_kind": lambda t: np.array(
            [
                (s == "negative" and k in negative_kinds) or (s != "negative" and k is None)
                for s, k in zip(t["sentiment"], t["negative_kind"], strict=True)
            ]
        ),
        "ck_clients_birth_year": lambda t: (t["birth_year"] >= 1900) & (t["birth_year"] <= 2015),
        "ck_client_locations_coordinates": lambda t: (np.abs(t["latitude"]) <= 90) & (np.abs(t["longitude"]) <= 180),
        "ck_leads_status": lambda t: isin(t["lead_status"], {"new", "contacted", "qualified", "won", "lost"}),
        "ck_leads_closed": lambda t: np.array(
            [(s in ("won", "lost")) == (c is not None) for s, c in zip(t["lead_status"], t["closed_at"], strict=True)]
        ),
        "ck_interactions_direction": lambda t: isin(t["direction"], {"inbound", "outbound"}),
        "ck_interactions_kind": lambda t: isin(
            t["interaction_kind"], {"message", "call", "email", "visit", "chat", "voice"}
        ),
        "ck_interactions_day": lambda t: t["occurred_on"] == day_of(t["occurred_at"]),
        "ck_bot_flows_kind": lambda t: isin(t["bot_kind"], {"chatbot", "voicebot"}),
        "ck_bot_responses_confidence": lambda t: (t["confidence"] >= 0) & (t["confidence"] <= 1),
        "ck_purchase_intent_scores_score": lambda t: (t["score"] >= 0) & (t["score"] <= 1),
        "ck_sales_amount": lambda t: (t["amount_usd"] > 0) & (t["quantity"] > 0),
        "ck_sales_day": lambda t: t["sale_date"] == day_of(t["sold_at"]),
    }


def test_every_check_constraint_of_the_generated_tables_holds_on_every_row(
    models: dict[str, StoreModel], tables: dict[str, Columns]
) -> None:
    checks = _checks()
    covered = set()
    for key in SQL_TABLES:
        for check in _model_table(models, key).checks:
            assert check.name in checks, f"{key}: no Python version of {check.name}: {check.expression}"
            ok = checks[check.name](tables[key])
            assert ok.all(), f"{key}: {check.name} fails on {int((~ok).sum())} rows ({check.expression})"
            covered.add(check.name)
    assert covered == set(checks)


@pytest.mark.parametrize("key", SQL_TABLES)
def test_primary_and_unique_keys_are_unique(
    key: str, models: dict[str, StoreModel], tables: dict[str, Columns]
) -> None:
    model, data = _model_table(models, key), tables[key]
    keys = [model.primary_key, *model.unique]
    for columns in keys:
        if columns == ["national_id_hmac"]:  # the server's HMAC of country and normalized ID: unique when they are
            columns = ["national_id_country", "national_id"]
        values = list(zip(*(as_array(data[c]).tolist() for c in columns), strict=True))
        if columns == ["national_id_country", "national_id"]:
            values = [(country, re.sub(r"[\s.\-/]", "", nid).upper()) for country, nid in values]
        assert len(set(values)) == len(values), f"{key}: {columns} repeats"


def test_foreign_keys_resolve_within_and_across_stores(
    small: World, models: dict[str, StoreModel], tables: dict[str, Columns]
) -> None:
    def key_set(store: str, table: str, columns: list[str]) -> set[tuple[Any, ...]]:
        rows = models[store].table_map[table].rows
        if rows:
            return {tuple(r[c] for c in columns) for r in rows}
        data = tables[f"{store}:{table}"]
        return set(zip(*(as_array(data[c]).tolist() for c in columns), strict=True))

    for key in SQL_TABLES:
        store = key.split(":")[0]
        for fk in _model_table(models, key).foreign_keys:
            data = tables[key]
            refs = key_set(store, fk.references, fk.ref_columns)
            values = zip(*(as_array(data[c]).tolist() for c in fk.columns), strict=True)
            missing = {v for v in values if None not in v and v not in refs}
            assert not missing, f"{key}{fk.columns} -> {fk.references}: {sorted(missing)[:5]}"
    # Across stores there are no foreign keys; the generator keeps the ids coherent.
    campaign_ids = set(tables["ads:ads.campaigns"]["campaign_id"].tolist())
    for key in (
        "crm:crm.client_campaigns",
        "crm:crm.leads",
        "crm:crm.interactions",
        "crm:crm.purchase_intent_scores",
        "crm:sales.sales",
    ):
        assert {v for v in as_array(tables[key]["campaign_id"]).tolist() if v is not None} <= campaign_ids, key
    channel_codes = {r["channel_code"] for r in models["ads"].table_map["ads.channels"].rows}
    assert set(tables["crm:sales.sales"]["channel_code"]) <= channel_codes
    images = {str(d["_id"]): d for d in tables["content:images"]["document"]}
    ads = tables["ads:ads.ads"]
    with_asset = [(a, c) for a, c in zip(ads["content_asset_id"], ads["campaign_id"].tolist(), strict=True) if a]
    assert with_asset, "no ad shows a PromptContent image"
    for asset, cid in with_asset:
        assert re.fullmatch(r"[0-9a-f]{24}", asset) and cid in images[asset]["campaign_ids"]
    assert all(set(d["campaign_ids"]) <= campaign_ids for d in images.values())
    requests = {d["_id"]: d for d in tables["content:content_requests"]["document"]}
    assert all(d["campaign_id"] in campaign_ids for d in requests.values())
    assert all(log["request_id"] in requests for log in tables["content:message_logs"]["document"])


def test_ads_sit_on_their_campaigns_channels_and_influencers_publish_on_their_home_channel(
    tables: dict[str, Columns],
) -> None:
    ads, influencers = tables["ads:ads.ads"], tables["ads:ads.influencers"]
    home = dict(zip(influencers["influencer_id"].tolist(), influencers["home_channel_code"], strict=True))
    with_influencer = 0
    for channel, influencer in zip(ads["channel_code"], ads["influencer_id"], strict=True):
        if channel == "influencers":
            assert influencer is not None
        if influencer is not None:
            with_influencer += 1
            assert channel == "influencers" or home[influencer] == channel
    assert 0 < with_influencer < len(ads["ad_id"])


def test_daily_results_are_consistent_and_cover_every_ad_market_and_day(
    small: World, tables: dict[str, Columns]
) -> None:
    r = tables["ads:perf.daily_results"]
    assert (r["views"] >= r["interactions"]).all()
    assert (r["interactions"] >= r["likes"] + r["shares"] + r["comments"] + r["sales"]).all()
    assert (r["reach"] <= r["views"]).all()
    per = _per_campaign_results(small, r)
    for plan in small.plans:
        c = plan.facts
        assert per["rows"][c.campaign_id] == plan.n_ads * len(c.markets) * (
            (min(c.ends_on, AS_OF) - c.starts_on).days + 1
        )
        assert per["cost"][c.campaign_id] <= round(c.budget_usd * 100)
        if c.status == "finished":
            assert per["cost"][c.campaign_id] >= 0.85 * c.budget_usd * 100  # a finished campaign spent its budget
    assert r["result_date"].max() == np.datetime64(AS_OF)


def test_clients_and_their_records_come_before_what_happens_to_them(tables: dict[str, Columns]) -> None:
    clients = tables["crm:crm.clients"]
    created = dict(zip(clients["client_id"].tolist(), seconds(clients["created_at"]).tolist(), strict=True))
    end = int(np.datetime64(datetime(2026, 1, 31, 23, 59, 59), "s").astype(np.int64))
    for key, client_col, time_col in (
        ("crm:crm.client_campaigns", "client_id", "linked_at"),
        ("crm:crm.interactions", "client_id", "occurred_at"),
        ("crm:crm.leads", "client_id", "created_at"),
        ("crm:crm.bot_responses", "client_id", "responded_at"),
        ("crm:crm.purchase_intent_scores", "client_id", "scored_at"),
        ("crm:sales.sales", "client_id", "sold_at"),
    ):
        t = seconds(tables[key][time_col])
        assert t.max() <= end, key
        first = np.array([created[c] for c in tables[key][client_col].tolist()])
        assert (t >= first).all(), key
    leads = tables["crm:crm.leads"]
    closed = seconds(leads["closed_at"])
    has = closed != np.iinfo(np.int64).min
    assert (closed[has] >= seconds(leads["created_at"])[has]).all()
    bots = tables["crm:crm.interactions"]
    assert int(np.sum(bots["handled_by_bot"])) == len(tables["crm:crm.bot_responses"]["response_id"])
    assert {k for k, b in zip(bots["interaction_kind"], bots["handled_by_bot"].tolist(), strict=True) if b} <= {
        "chat",
        "voice",
    }


# --------------------------------------------------------------------------- national IDs and locations

VOWELS = "AEIOU"
CURP = re.compile(
    r"^[A-Z][AEIOUX][A-Z]{2}(\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])[HM][A-Z]{2}[B-DF-HJ-NP-TV-Z]{3}[0-9A-Z]\d$"
)
FORMATS = {
    "US": re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$"),
    "CA": re.compile(r"^[1-7]\d{2} \d{3} \d{3}$"),
    "CR": re.compile(r"^[1-7]-\d{4}-\d{4}$"),
    "CO": re.compile(r"^(1\.0\d{2}\.\d{3}\.\d{3}|[1-9]\d\.\d{3}\.\d{3})$"),
    "ES": re.compile(r"^(\d{8}|[XYZ]\d{7})[TRWAGMYFPDXBNJZSQVHLCKE]$"),
    "GB": re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] \d{2} \d{2} \d{2} [A-D]$"),
    "BR": re.compile(r"^\d{3}\.\d{3}\.\d{3}-\d{2}$"),
    "MX": CURP,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def cpf_ok(cpf: str) -> bool:
    d = [int(c) for c in re.sub(r"\D", "", cpf)]
    if len(set(d)) == 1:
        return False
    first = sum(v * w for v, w in zip(d[:9], range(10, 1, -1), strict=True)) * 10 % 11 % 10
    second = sum(v * w for v, w in zip(d[:10], range(11, 1, -1), strict=True)) * 10 % 11 % 10
    return d[9] == first and d[10] == second


def dni_ok(value: str) -> bool:
    number = int("XYZ".index(value[0]).__str__() + value[1:8]) if value[0] in "XYZ" else int(value[:8])
    return "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23] == value[-1]


def curp_ok(value: str, last_name: str, birth_year: int) -> bool:
    alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
    check = (10 - sum(alphabet.index(c) * (18 - i) for i, c in enumerate(value[:17])) % 10) % 10
    plain = unicodedata.normalize("NFKD", last_name.upper().replace("Ñ", "X")).encode("ascii", "ignore").decode()
    initial_ok = (
        value[0]
        == next(
            w
            for w in plain.split()
            if w not in {"DE", "DEL", "LA", "LAS", "LOS", "Y", "MC", "MAC", "VAN", "VON", "DA", "DI"}
        )[0]
    )
    return (
        int(value[17]) == check
        and int(value[4:6]) == birth_year % 100
        and initial_ok
        and (value[16].isdigit() == (birth_year < 2000))
    )


def test_national_ids_follow_the_format_of_the_clients_country(tables: dict[str, Columns]) -> None:
    clients = tables["crm:crm.clients"]
    seen = Counter()
    for country, market, nid, last, year in zip(
        clients["national_id_country"],
        clients["market_code"],
        clients["national_id"],
        clients["last_name"],
        clients["birth_year"].tolist(),
        strict=True,
    ):
        assert market.startswith(country + "-")
        assert FORMATS[country].match(nid), (country, nid)
        if country == "CA":
            assert luhn_ok(nid.replace(" ", "")), nid
        elif country == "BR":
            assert cpf_ok(nid), nid
        elif country == "ES":
            assert dni_ok(nid), nid
        elif country == "MX":
            assert curp_ok(nid, last, year), (nid, last, year)
        normalized = re.sub(r"[\s.\-/]", "", nid)
        assert 4 <= len(normalized) <= 20 and normalized.isalnum()  # what sec.fn_NormalizeNationalId accepts
        seen[country] += 1
    assert set(seen) == set(FORMATS)  # every market country is represented


def test_clients_live_near_their_market_with_every_distance_band_present(tables: dict[str, Columns]) -> None:
    from generators.data.people import haversine_km
    from generators.data.reference import markets

    clients, locations = tables["crm:crm.clients"], tables["crm:crm.client_locations"]
    assert (clients["client_id"] == locations["client_id"]).all()
    where = {m.code: (m.latitude, m.longitude) for m in markets()}
    lat = np.array([where[m][0] for m in clients["market_code"]])
    lon = np.array([where[m][1] for m in clients["market_code"]])
    km = haversine_km(locations["latitude"], locations["longitude"], lat, lon)
    assert km.max() < 300
    assert (km < 40).mean() > 0.6
    bands = np.digitize(km, [5, 25, 100])
    shares = np.bincount(bands, minlength=4) / km.size
    assert (shares > 0.01).all(), shares  # < 5 km, 5-25, 25-100 and > 100 km all occur


# --------------------------------------------------------------------------- sentiment cases


def _reactions_by_ad(tables: dict[str, Columns]) -> dict[str, np.ndarray]:
    r = tables["ads:perf.social_reactions"]
    return {
        "ad_id": r["ad_id"],
        "day": r["reacted_at"].astype("datetime64[D]"),
        "negative": np.array([s == "negative" for s in r["sentiment"]]),
        "influencer": np.array([i is not None for i in r["influencer_id"]]),
        "kind": np.array([k or "" for k in r["negative_kind"]]),
    }


def test_each_planted_sentiment_case_shows_negative_reactions_and_an_influencer_drop(
    small: World, tables: dict[str, Columns]
) -> None:
    assert len(small.sentiment_cases) == small.scale.sentiment_cases
    assert len({case.brand_id for case in small.sentiment_cases}) == len(small.sentiment_cases)
    r = _reactions_by_ad(tables)
    ads = tables["ads:ads.ads"]
    channel_of = dict(zip(ads["ad_id"].tolist(), ads["channel_code"], strict=True))
    campaign_of = dict(zip(ads["ad_id"].tolist(), ads["campaign_id"].tolist(), strict=True))
    brand_of = dict(
        zip(
            tables["ads:ads.campaigns"]["campaign_id"].tolist(),
            tables["ads:ads.campaigns"]["brand_id"].tolist(),
            strict=True,
        )
    )
    for case in small.sentiment_cases:
        assert case.previous_to == case.period_from - timedelta(days=1)
        assert (case.previous_to - case.previous_from).days == (case.period_to - case.period_from).days
        for ad in case.ad_ids:
            assert channel_of[ad] == case.channel_code and brand_of[campaign_of[ad]] == case.brand_id
        on_ads = np.isin(r["ad_id"], case.ad_ids)
        current = on_ads & (r["day"] >= np.datetime64(case.period_from)) & (r["day"] <= np.datetime64(case.period_to))
        previous = (
            on_ads & (r["day"] >= np.datetime64(case.previous_from)) & (r["day"] <= np.datetime64(case.previous_to))
        )
        negatives = current & r["negative"]
        assert negatives.sum() >= 20 and negatives.sum() / current.sum() >= 0.4, case
        assert Counter(r["kind"][negatives]).most_common(1)[0][0] == case.negative_kind
        influencer_before = int((previous & r["influencer"]).sum())
        influencer_now = int((current & r["influencer"]).sum())
        assert influencer_before >= 10 and influencer_now <= 0.5 * influencer_before, (
            case,
            influencer_before,
            influencer_now,
        )


@pytest.mark.parametrize("which", ["small", "full"])
def test_the_scripts_default_december_period_picks_a_planted_brand(which: str, request: Any) -> None:
    """08_brand_sentiment_drop.sql, run without parameters, reads December 2025 and the brand with the most
    negative reactions then: that must be the brand planted for that period."""
    world: World = request.getfixturevalue(which)
    case = next(c for c in world.sentiment_cases if c.period_from == date(2025, 12, 1))
    brand_of_ad = {int(a): p.facts.brand_id for p in world.plans for a in p.ad_ids}
    negatives: Counter[int] = Counter()
    table = next(t for t in world.tables("ads") if t.table == "perf.social_reactions")
    for batch in table.batches(200_000):
        day = batch["reacted_at"].astype("datetime64[D]")
        mask = (day >= np.datetime64("2025-12-01")) & (day <= np.datetime64("2025-12-31"))
        mask &= np.array([s == "negative" for s in batch["sentiment"]])
        negatives.update(brand_of_ad[a] for a in batch["ad_id"][mask].tolist())
    assert negatives.most_common(1)[0][0] == case.brand_id


# --------------------------------------------------------------------------- content


def test_content_documents_are_valid_and_consistent(small: World, tables: dict[str, Columns]) -> None:
    for collection in ("images", "hashtags", "content_requests", "message_logs"):
        documents = tables[f"content:{collection}"]["document"]
        assert documents, collection
        for document in documents:
            assert validate_document(collection, document) == [], (collection, document.get("_id"))
        ids = [d["_id"] for d in documents]
        assert len(set(ids)) == len(ids), collection
    images = tables["content:images"]["document"]
    assert len(images) >= 100
    taxonomy = {d["hashtag"] for d in tables["content:hashtags"]["document"]}
    assert {tag for d in images for tag in d["hashtags"]} == taxonomy
    brands = {b.brand_name for b in small.brands}
    assert {d["brand"] for d in images} <= brands
    logs = defaultdict(list)
    for log in tables["content:message_logs"]["document"]:
        logs[log["request_id"]].append(log)
    for request in tables["content:content_requests"]["document"]:
        mine = logs[request["_id"]]
        assert sorted(log["target_population"] for log in mine) == sorted(request["target_audiences"])
        assert all(len(log["messages"]) == 3 and log["campaign_id"] == request["campaign_id"] for log in mine)
    cases = {c.campaign_id for c in small.sentiment_cases}
    assert cases <= {cid for d in images for cid in d["campaign_ids"]}


# --------------------------------------------------------------------------- determinism and construction


def _hashes(world: World, batch_rows: int) -> dict[str, list[str]]:
    return {
        f"{store}:{t.table}": [batch_sha256(t.columns, b) for b in t.batches(batch_rows)]
        for store in ("ads", "crm", "content")
        for t in world.tables(store)
    }


def _digest(hashes: dict[str, list[str]]) -> str:
    return batch_sha256(("all",), {"all": [f"{k}:{','.join(v)}" for k, v in sorted(hashes.items())]})


def test_the_same_seed_gives_identical_batches_and_another_seed_differs() -> None:
    first = _hashes(build_world(7, TINY), 3_000)
    again = _hashes(build_world(7, TINY), 3_000)
    other = _hashes(build_world(8, TINY), 3_000)
    assert first == again
    differing = [k for k in first if first[k] != other.get(k)]
    assert len(differing) >= len(first) - 2  # only fixed vocabularies (audiences, bot flows) may coincide
    assert "ads:perf.daily_results" in differing and "crm:crm.clients" in differing
    # Another process with another string-hash salt generates the same bytes (no set or dict-order leaks).
    code = (
        "from generators.data.world import WorldScale, build_world\n"
        "from tests.generators.test_data_world import _digest, _hashes\n"
        f"print(_digest(_hashes(build_world(7, {TINY!r}), 3_000)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(first)


def test_rows_do_not_depend_on_the_batch_size() -> None:
    world = build_world(11, TINY)
    for store in ("ads", "crm"):
        for table in world.tables(store):
            a, b = collect(table, 1_000), collect(table, 6_543)
            assert batch_sha256(table.columns, a) == batch_sha256(table.columns, b), table.table
            assert all(len(v) == table.rows for v in a.values())


def _hand_made() -> tuple[list[Brand], list[CampaignFacts]]:
    brands = [
        Brand(1, "Test Footwear", "Test Holdings Inc.", "Footwear", "US"),
        Brand(2, "Prueba Foods", "Prueba S.A.", "Food", "CR"),
    ]
    common = {"objective": "conversion", "budget_usd": 12_000.0, "audiences": ("fitness_enthusiasts",)}
    campaigns = [
        CampaignFacts(
            1,
            1,
            "Spring Run 2025",
            status="finished",
            starts_on=date(2025, 3, 1),
            ends_on=date(2025, 3, 30),
            channels=("instagram", "email"),
            markets=("US-NY", "US-IL"),
            sales_count=37,
            revenue_cents=401_234,
            reach=150_000,
            linked_clients=450,
            **common,
        ),
        CampaignFacts(
            2,
            2,
            "Verano 2025",
            status="finished",
            starts_on=date(2025, 6, 1),
            ends_on=date(2025, 6, 20),
            channels=("facebook",),
            markets=("CR-SJ",),
            sales_count=0,
            revenue_cents=0,
            reach=5_000,
            linked_clients=400,
            **common,
        ),
        CampaignFacts(
            3,
            1,
            "New Year Run 2026",
            status="active",
            starts_on=date(2026, 1, 20),
            ends_on=date(2026, 2, 28),
            channels=("tiktok", "google_search", "sms"),
            markets=("US-CA",),
            sales_count=5,
            revenue_cents=5,
            reach=2_000,
            linked_clients=999,
            **common,
        ),
    ]
    return brands, campaigns


def test_a_world_built_directly_from_hand_written_facts_honours_them() -> None:
    brands, campaigns = _hand_made()
    world = World(3, AS_OF, brands, campaigns, WorldScale(campaigns=3, clients=3_000, images=6, content_campaigns=3))
    by_name = {t.table: collect(t) for store in ("ads", "crm", "content") for t in world.tables(store)}
    count, cents = _per_campaign_sales(by_name["sales.sales"])
    ads = _per_campaign_results(world, by_name["perf.daily_results"])
    links = Counter(by_name["crm.client_campaigns"]["campaign_id"].tolist())
    for c in campaigns:
        assert count.get(c.campaign_id, 0) == ads["sales"].get(c.campaign_id, 0) == c.sales_count
        assert cents.get(c.campaign_id, 0) == ads["revenue"].get(c.campaign_id, 0) == c.revenue_cents
        assert ads["reach"][c.campaign_id] == c.reach and links[c.campaign_id] == c.linked_clients
    assert set(np.round(by_name["sales.sales"]["amount_usd"][by_name["sales.sales"]["campaign_id"] == 3] * 100)) == {1}
    assert len(by_name["images"]["document"]) == 6


def test_the_named_small_scale_is_a_complete_coherent_world() -> None:
    from generators.data.world import SCALES

    world = build_world(SEED, "small")
    assert world.scale == SCALES["small"] and build_world(SEED, "full").scale == WorldScale()
    by_name = {t.table: collect(t) for store in ("ads", "crm", "content") for t in world.tables(store)}
    count, cents = _per_campaign_sales(by_name["sales.sales"])
    ads = _per_campaign_results(world, by_name["perf.daily_results"])
    for c in world.campaigns:
        assert count.get(c.campaign_id, 0) == ads["sales"].get(c.campaign_id, 0) == c.sales_count
        assert cents.get(c.campaign_id, 0) == ads["revenue"].get(c.campaign_id, 0) == c.revenue_cents
    assert len(world.sentiment_cases) == world.scale.sentiment_cases
    with pytest.raises(ValueError, match="unknown world scale 'huge'; the named scales are full, small"):
        build_world(SEED, "huge")


def test_facts_the_generator_cannot_honour_are_refused_naming_the_campaign() -> None:
    brands, campaigns = _hand_made()
    scale = WorldScale(campaigns=3, clients=3_000)
    bad_status = [replace(campaigns[0], status="active"), *campaigns[1:]]
    with pytest.raises(ValueError, match=r"campaign 1: status 'active' but its dates make it 'finished'"):
        World(3, AS_OF, brands, bad_status, scale)
    too_few_cents = [campaigns[0], campaigns[1], replace(campaigns[2], revenue_cents=4)]
    with pytest.raises(ValueError, match=r"campaign 3: needs revenue_cents >= sales_count"):
        World(3, AS_OF, brands, too_few_cents, scale)
    over_reach = [replace(campaigns[0], linked_clients=200_000), *campaigns[1:]]
    with pytest.raises(ValueError, match=r"campaign 1: linked_clients 200000"):
        World(3, AS_OF, brands, over_reach, scale)
    with pytest.raises(ValueError, match="unknown store 'nope'"):
        World(3, AS_OF, brands, campaigns, scale).tables("nope")


def test_the_command_line_generates_every_table_and_ends_with_a_one_line_summary(capsys: Any) -> None:
    from generators.data.world import main

    assert main(["--campaigns", "30", "--clients", "4000", "--summary", "--batch-rows", "5000"]) == 0
    out = capsys.readouterr().out
    assert "perf.daily_results" in out and "sales.sales" in out and "message_logs" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"world: [\d,]+ rows generated in [\d.]+ s \([\d,]+ rows/s\), seed 20260131", last), last
    assert main(["--clients", "10"]) == 2
    assert "clients (10) must be at least" in capsys.readouterr().err


# --------------------------------------------------------------------------- full scale: time and memory


def test_FULL_SCALE_world_generates_every_batch_in_under_a_minute_within_2_gib() -> None:
    """The acceptance budget of the issue, measured as `make bench` does: a fresh process builds the world at
    full scale and iterates every batch of every ads, crm and content table with batches of 50,000."""
    out = subprocess.run(
        [sys.executable, "-m", "generators.data.bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    m = re.search(r"([\d,]+) rows \(([\d,]+) clients\) in ([\d.]+) s .* peak RSS ([\d,]+) MiB", out)
    assert m, out
    rows, clients, seconds_taken, rss = (float(g.replace(",", "")) for g in m.groups())
    assert clients >= 500_000 and rows > 5_000_000
    assert seconds_taken < 60, out
    assert rss < 2048, out
