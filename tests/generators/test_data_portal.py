"""PromptSales portal data: deterministic, every key and CHECK of model/sales.yaml holds, coherent with the world."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from generators.data import portal
from generators.data.portal import PORTAL_TABLES, portal_tables
from generators.data.tables import Brand, CampaignFacts, TableData, batch_sha256
from generators.deploy import ROOT
from generators.model import load_model

SEED = 20260131
AS_OF = date(2026, 1, 31)
MODEL = load_model(ROOT / "model" / "sales.yaml")

CHANNELS = ("facebook", "instagram", "tiktok", "x", "youtube", "linkedin", "influencers", "email", "sms", "display")
MARKETS = ("US-NY", "US-CA", "MX-CMX", "CR-SJ", "BR-SP", "GB-LND", "ES-MD", "CO-DC", "CA-ON")
AUDIENCES = ("fitness_enthusiasts", "young_professionals", "families_with_children", "retirees", "pet_owners")
INDUSTRIES = ("footwear", "beverages", "electronics", "finance", "Industrial supplies", "beauty", "travel")
COUNTRIES = ("US", "MX", "BR", "GB", "CR", "CO", "ES", "CA")


@dataclass(frozen=True)
class StandInWorld:
    """A World-like object from a handful of Brand and CampaignFacts (generators.data.world is written separately).

    It has exactly what portal_tables may read (seed, as_of, brands, campaigns) and the `tables(store)` method the
    loaders and the seed DAG call; only the sales store has tables here.
    """

    seed: int
    as_of: date
    brands: list[Brand]
    campaigns: list[CampaignFacts]

    def tables(self, store: str) -> list[TableData]:
        return portal_tables(self) if store == "sales" else []


def small_world(seed: int = SEED, brands: int = 7, campaigns: int = 36) -> StandInWorld:
    """Brands of several industries and countries; campaigns between July 2024 and January 2026, 30% still active."""
    rng = np.random.default_rng(seed)
    made = [
        Brand(k + 1, f"Brand {k + 1} {INDUSTRIES[k % len(INDUSTRIES)].title()}", f"Advertiser {k + 1} Holdings",
              INDUSTRIES[k % len(INDUSTRIES)], COUNTRIES[k % len(COUNTRIES)])
        for k in range(brands)
    ]  # fmt: skip
    facts = []
    for k in range(campaigns):
        brand = made[k] if k < brands else made[int(rng.integers(brands))]
        active = k % 10 < 3
        if active:
            starts_on = AS_OF - timedelta(days=int(rng.integers(5, 60)))
            ends_on = AS_OF + timedelta(days=int(rng.integers(10, 90)))
        else:
            starts_on = date(2024, 7, 1) + timedelta(days=int(rng.integers(0, 480)))
            ends_on = min(starts_on + timedelta(days=int(rng.integers(14, 90))), AS_OF - timedelta(days=1))
        facts.append(
            CampaignFacts(
                campaign_id=1000 + k,
                brand_id=brand.brand_id,
                campaign_name=f"{brand.brand_name.split()[0]} {brand.brand_id} wave {k}",
                objective=str(rng.choice(["awareness", "consideration", "conversion", "retention"])),
                status="active" if active else "finished",
                starts_on=starts_on,
                ends_on=ends_on,
                budget_usd=round(float(rng.uniform(5_000, 90_000)), 2),
                channels=tuple(sorted({str(c) for c in rng.choice(CHANNELS, 3)})),
                markets=tuple(sorted({str(m) for m in rng.choice(MARKETS, 2)})),
                audiences=tuple(sorted({str(a) for a in rng.choice(AUDIENCES, 2)})),
                sales_count=int(rng.integers(10, 900)),
                revenue_cents=int(rng.integers(10**6, 10**8)),
                reach=int(rng.integers(10**4, 10**6)),
                linked_clients=int(rng.integers(400, 1001)),
            )
        )
    return StandInWorld(seed, AS_OF, made, facts)


def rows_of(table: TableData) -> list[dict[str, Any]]:
    """Every row of a table as a dict (numpy values as Python values), read through its batches."""
    rows: list[dict[str, Any]] = []
    for batch in table.batches(10_000):
        values = {c: (v.tolist() if isinstance(v, np.ndarray) else list(v)) for c, v in batch.items()}
        rows.extend(dict(zip(values, r, strict=True)) for r in zip(*values.values(), strict=True))
    return rows


def real_world() -> Any:
    """The world generator's own world at full scale (generators.data.world)."""
    from generators.airflow_seed import world_for

    return world_for(SEED, "full")


@pytest.fixture(scope="module", params=["stand-in", "world"])
def world(request: pytest.FixtureRequest) -> Any:
    """Every coherence test runs on a hand-made world and on the real generator's world."""
    return small_world() if request.param == "stand-in" else real_world()


@pytest.fixture(scope="module")
def tables(world: StandInWorld) -> dict[str, TableData]:
    return {t.table: t for t in portal_tables(world)}


@pytest.fixture(scope="module")
def data(tables: dict[str, TableData]) -> dict[str, list[dict[str, Any]]]:
    return {name: rows_of(t) for name, t in tables.items()}


# --------------------------------------------------------------------------- determinism


def fingerprint(tables: list[TableData], batch_rows: int = 50) -> list[tuple[str, int, str]]:
    return [
        (t.table, n, batch_sha256(t.columns, b)) for t in tables for n, b in enumerate(t.batches(batch_rows), start=1)
    ]


def test_same_world_gives_the_same_bytes() -> None:
    assert fingerprint(portal_tables(small_world())) == fingerprint(portal_tables(small_world()))


def test_another_seed_gives_other_rows() -> None:
    world = small_world()
    other = replace(world, seed=SEED + 1)
    ours = dict((t, h) for t, n, h in fingerprint(portal_tables(world), 10**6))
    theirs = dict((t, h) for t, n, h in fingerprint(portal_tables(other), 10**6))
    # Companies follow the brands (same ids and names); nearly everything else is drawn from the seed.
    changed = [t for t in PORTAL_TABLES if ours[t] != theirs[t]]
    assert len(changed) >= len(PORTAL_TABLES) - 2, sorted(set(PORTAL_TABLES) - set(changed))


def test_any_batch_size_yields_the_same_rows(tables: dict[str, TableData]) -> None:
    contacts = tables["portal.contacts"]
    assert contacts.rows > 20
    small = [r for b in contacts.batches(7) for r in zip(*(list(b[c]) for c in contacts.columns), strict=True)]
    whole = [r for b in contacts.batches(10**6) for r in zip(*(list(b[c]) for c in contacts.columns), strict=True)]
    assert small == whole
    assert len(list(contacts.batches(7))) == -(-contacts.rows // 7)


def test_tables_come_in_foreign_key_load_order(tables: dict[str, TableData]) -> None:
    assert list(tables) == list(PORTAL_TABLES)
    position = {name: k for k, name in enumerate(PORTAL_TABLES)}
    for name in PORTAL_TABLES:
        for fk in MODEL.table_map[name].foreign_keys:
            if fk.references in position:
                assert position[fk.references] <= position[name], f"{name} loads before {fk.references}"


def test_reference_data_is_referenced_not_generated() -> None:
    generated = set(PORTAL_TABLES)
    reference = {t.qualified for t in MODEL.tables if t.rows}
    assert not generated & reference
    tiers = {r["tier_code"]: (r["sub_company_code"], r["max_active_campaigns"], r["max_seats"])
             for r in MODEL.table_map["portal.subscription_tiers"].rows}  # fmt: skip
    assert tiers == portal.TIERS
    assert set(portal.APP_ROLES) == {r["role_code"] for r in MODEL.table_map["portal.app_roles"].rows}
    assert set(portal.SUB_COMPANIES) == {r["sub_company_code"] for r in MODEL.table_map["portal.sub_companies"].rows}


def test_every_portal_table_the_portal_writes_is_generated() -> None:
    # What is not generated: reference rows, the ETL's and the audit trigger's own tables, erasure requests (an
    # action the portal takes through privacy.erase_person, not data to invent).
    not_generated = {t.qualified for t in MODEL.tables if t.rows}
    not_generated |= {t.qualified for t in MODEL.tables if t.schema_ in ("analytics", "etl", "audit")}
    not_generated |= {"privacy.erasure_requests"}
    assert set(PORTAL_TABLES) == {t.qualified for t in MODEL.tables} - not_generated


# --------------------------------------------------------------------------- the model's keys and checks

IN_LIST = re.compile(r"^(\w+) IN \(([^)]*)\)$")
ROW_CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "ck_oauth_tokens_hash_length": lambda r: len(r["token_sha256"]) == 32,
    "ck_oauth_tokens_expiry": lambda r: r["expires_at"] > r["issued_at"],
    "ck_subscriptions_period": lambda r: r["ends_on"] is None or r["ends_on"] >= r["starts_on"],
    "ck_subscriptions_seats": lambda r: r["seats"] > 0,
    "ck_products_price": lambda r: r["list_price_usd"] >= 0,
    "ck_sales_objectives_period": lambda r: r["period_end"] >= r["period_start"],
    "ck_sales_objectives_amount": lambda r: r["target_amount_usd"] > 0,
    "ck_strategies_period": lambda r: r["ends_on"] >= r["starts_on"],
    "ck_budgets_period": lambda r: r["period_end"] >= r["period_start"],
    "ck_budgets_amounts": lambda r: r["allocated_usd"] >= 0 and r.get("spent_usd", 0) >= 0,
    "ck_tasks_completed": lambda r: (r["status"] == "done") == (r["completed_at"] is not None),
    "ck_usage_log_latency": lambda r: r["latency_ms"] is None or r["latency_ms"] >= 0,
}
"""The model's CHECKs that are not a plain `column IN (...)`, as Python over one generated row."""


def check_predicate(expression: str, name: str) -> Callable[[dict[str, Any]], bool]:
    match = IN_LIST.match(expression.strip())
    if match:
        column, allowed = match.group(1), set(re.findall(r"'([^']*)'", match.group(2)))
        return lambda r: r[column] in allowed
    if name not in ROW_CHECKS:
        pytest.fail(f"CHECK {name} ({expression}) has no Python predicate in ROW_CHECKS", pytrace=False)
    return ROW_CHECKS[name]


def test_every_check_of_the_model_holds_for_every_row(data: dict[str, list[dict[str, Any]]]) -> None:
    failures = []
    for name in PORTAL_TABLES:
        for check in MODEL.table_map[name].checks:
            holds = check_predicate(check.expression, check.name)
            bad = [r for r in data[name] if not holds(r)]
            if bad:
                failures.append(f"{name}: {check.name} fails for {len(bad)} rows, e.g. {bad[0]}")
    assert failures == []


def test_columns_exist_required_ones_are_given_and_never_null(tables: dict[str, TableData], data: Any) -> None:
    problems = []
    for name, table in tables.items():
        model = MODEL.table_map[name]
        known = {c.name for c in model.columns}
        problems += [f"{name}.{c}: not in the model" for c in table.columns if c not in known]
        for column in model.columns:
            if column.nullable or column.default is not None:
                continue
            if column.name not in table.columns:
                problems.append(f"{name}.{column.name}: NOT NULL without default, not generated")
            elif any(r[column.name] is None for r in data[name]):
                problems.append(f"{name}.{column.name}: NOT NULL but has None")
        for c in table.columns:
            column = model.column(c)
            if column is not None and not column.nullable and any(r[c] is None for r in data[name]):
                problems.append(f"{name}.{c}: NOT NULL but has None")
    assert problems == []


def expected_type(pg_type: str) -> Callable[[Any], bool]:
    text = re.fullmatch(r"(varchar|char)\((\d+)\)", pg_type)
    if text:
        size, fixed = int(text.group(2)), text.group(1) == "char"
        return lambda v: isinstance(v, str) and (len(v) == size if fixed else len(v) <= size)
    numeric = re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type.replace(" ", ""))
    if numeric:
        precision, scale = int(numeric.group(1)), int(numeric.group(2))

        def fits(v: Any) -> bool:
            d = Decimal(repr(float(v)))
            return -d.as_tuple().exponent <= scale if isinstance(d.as_tuple().exponent, int) else False

        return lambda v: isinstance(v, float) and fits(v) and abs(v) < 10 ** (precision - scale)
    return {
        "bigint": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63,
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31,
        "boolean": lambda v: isinstance(v, bool),
        "text": lambda v: isinstance(v, str) and v != "",
        "citext": lambda v: isinstance(v, str) and v == v.lower() and "@" in v,
        "date": lambda v: isinstance(v, date) and not isinstance(v, datetime),
        "timestamptz": lambda v: isinstance(v, datetime) and v.utcoffset() == timedelta(0),
        "bytea": lambda v: isinstance(v, bytes),
        "text[]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    }[pg_type]


def test_every_value_fits_its_column_type(tables: dict[str, TableData], data: Any) -> None:
    problems = []
    for name, table in tables.items():
        for c in table.columns:
            column = MODEL.table_map[name].column(c)
            assert column is not None
            fits = expected_type(column.type)
            bad = [r[c] for r in data[name] if r[c] is not None and not fits(r[c])]
            if bad:
                problems.append(f"{name}.{c} ({column.type}): {bad[:3]}")
    assert problems == []


def key_of(row: dict[str, Any], columns: list[str], citext: set[str]) -> tuple[Any, ...]:
    return tuple(row[c].lower() if c in citext and isinstance(row[c], str) else row[c] for c in columns)


def test_primary_and_unique_keys_hold(data: dict[str, list[dict[str, Any]]]) -> None:
    problems = []
    for name in PORTAL_TABLES:
        model = MODEL.table_map[name]
        citext = {c.name for c in model.columns if c.type == "citext"}
        for key in [model.primary_key, *model.unique]:
            # NULLs are distinct in a unique constraint: only rows with the whole key set can collide.
            keys = [key_of(r, key, citext) for r in data[name] if all(r.get(c) is not None for c in key)]
            repeated = [k for k, n in Counter(keys).items() if n > 1]
            if repeated:
                problems.append(f"{name} {key}: {repeated[:3]}")
    assert problems == []


def test_every_foreign_key_points_at_a_row(data: dict[str, list[dict[str, Any]]]) -> None:
    problems = []
    for name in PORTAL_TABLES:
        for fk in MODEL.table_map[name].foreign_keys:
            target = MODEL.table_map[fk.references]
            source_rows = target.rows if target.rows else data[fk.references]
            present = {tuple(r[c] for c in fk.ref_columns) for r in source_rows}
            refs = [tuple(r[c] for c in fk.columns) for r in data[name]]
            dangling = {v for v in refs if None not in v and v not in present}
            if dangling:
                problems.append(f"{name} {fk.columns} -> {fk.references}: {sorted(dangling)[:3]}")
    assert problems == []


# --------------------------------------------------------------------------- coherence with the world


def test_one_company_per_brand_plus_the_firm(world: StandInWorld, data: Any) -> None:
    companies = {r["company_id"]: r for r in data["portal.companies"]}
    assert len(companies) == len(world.brands) + 1
    for brand in world.brands:
        company = companies[brand.brand_id]
        assert (company["brand_name"], company["industry"], company["country_code"]) == (
            brand.brand_name,
            brand.industry,
            brand.country_code,
        )
    (house,) = [c for c in companies.values() if c["company_id"] not in {b.brand_id for b in world.brands}]
    assert house["brand_name"] == "PromptSales"
    # The firm's staff own the contacts of client companies: the sales team that works them.
    staff = {u["user_id"] for u in data["portal.users"] if u["company_id"] == house["company_id"]}
    owners = [c["owner_user_id"] for c in data["portal.contacts"] if c["owner_user_id"] is not None]
    assert owners and set(owners) <= staff


def test_one_portal_campaign_per_world_campaign_with_the_same_id(world: StandInWorld, data: Any) -> None:
    campaigns = {r["campaign_id"]: r for r in data["portal.campaigns"]}
    assert sorted(campaigns) == sorted(c.campaign_id for c in world.campaigns)
    strategies = {s["strategy_id"]: s for s in data["portal.strategies"]}
    for fact in world.campaigns:
        row = campaigns[fact.campaign_id]
        assert (row["company_id"], row["name"]) == (fact.brand_id, fact.campaign_name)
        strategy = strategies[row["strategy_id"]]
        assert strategy["company_id"] == fact.brand_id
        assert strategy["objective"] == fact.objective
        assert strategy["starts_on"] <= fact.starts_on and fact.ends_on <= strategy["ends_on"]
        assert strategy["status"] == "running" if fact.status == "active" else True
        assert row["created_at"] <= datetime.combine(fact.starts_on, datetime.min.time(), UTC)


def test_strategies_target_their_campaigns_audiences_and_countries(world: StandInWorld, data: Any) -> None:
    campaign_strategy = {r["campaign_id"]: r["strategy_id"] for r in data["portal.campaigns"]}
    audiences, countries = defaultdict(set), defaultdict(set)
    for fact in world.campaigns:
        audiences[campaign_strategy[fact.campaign_id]] |= set(fact.audiences)
        countries[campaign_strategy[fact.campaign_id]] |= {m[:2] for m in fact.markets}
    got_audiences, got_countries = defaultdict(set), defaultdict(set)
    for r in data["portal.strategy_audiences"]:
        got_audiences[r["strategy_id"]].add(r["audience_code"])
    for r in data["portal.strategy_countries"]:
        got_countries[r["strategy_id"]].add(r["country_code"])
    assert {k: got_audiences[k] for k in audiences} == audiences
    assert {k: got_countries[k] for k in countries} == countries


def test_ads_budgets_add_up_to_the_campaign_budgets(world: StandInWorld, data: Any) -> None:
    campaign_strategy = {r["campaign_id"]: r["strategy_id"] for r in data["portal.campaigns"]}
    expected: dict[int, float] = defaultdict(float)
    for fact in world.campaigns:
        expected[campaign_strategy[fact.campaign_id]] += fact.budget_usd
    ads = {r["strategy_id"]: r["allocated_usd"] for r in data["portal.budgets"] if r["sub_company_code"] == "ads"}
    assert {k: ads[k] for k in expected} == pytest.approx(dict(expected), abs=0.01)
    # Budgets for content and CRM only where the company subscribes to them.
    subscribed = {(r["company_id"], r["tier_code"].split("_")[0]) for r in data["portal.subscriptions"]}
    company_of = {s["strategy_id"]: s["company_id"] for s in data["portal.strategies"]}
    for budget in data["portal.budgets"]:
        assert (company_of[budget["strategy_id"]], budget["sub_company_code"]) in subscribed


def test_each_ads_plan_allows_the_brands_peak_of_active_campaigns(world: StandInWorld, data: Any) -> None:
    current = {
        r["company_id"]: r["tier_code"]
        for r in data["portal.subscriptions"]
        if r["tier_code"].startswith("ads_") and r["ends_on"] is None
    }
    for brand in world.brands:
        campaigns = [c for c in world.campaigns if c.brand_id == brand.brand_id]
        if brand.brand_id in current:
            assert portal._peak_concurrency(campaigns) <= portal.TIERS[current[brand.brand_id]][1]


def test_sales_objectives_follow_the_campaigns_revenue(world: StandInWorld, data: Any) -> None:
    objectives = [r for r in data["portal.sales_objectives"] if r["product_id"] is None]
    assert objectives
    for r in objectives:
        campaigns = [c for c in world.campaigns if c.brand_id == r["company_id"]]
        revenue, _ = portal._prorated(campaigns, r["period_start"], r["period_end"])
        assert revenue > 0
        assert 0.8 * revenue / 100 - 100 <= r["target_amount_usd"] <= max(1_000, 1.3 * revenue / 100 + 100)


def test_the_usage_log_already_holds_what_the_approval_trigger_writes(data: Any) -> None:
    usage = {u["usage_id"]: u for u in data["ai.usage_log"]}
    reviewed = set()
    for a in data["portal.ai_approvals"]:
        u = usage[a["usage_id"]]
        reviewed.add(a["usage_id"])
        # ai.fn_sync_validation_from_approval: status = decision, method names the reviewer, correction on 'corrected'.
        assert u["validation_status"] == a["decision"]
        assert u["validation_method"] == f"human review by user {a['reviewer_user_id']}"
        assert u["correction"] == (a["comment"] if a["decision"] == "corrected" else None)
        assert a["decided_at"] > u["occurred_at"]
    pending = [u for k, u in usage.items() if k not in reviewed]
    assert pending and {u["validation_status"] for u in pending} == {"pending"}
    assert {a["decision"] for a in data["portal.ai_approvals"]} == {"approved", "corrected", "rejected"}


def test_reminder_alerts_are_what_the_dispatcher_would_have_sent(data: Any, world: StandInWorld) -> None:
    now = datetime.combine(world.as_of, datetime.max.time(), UTC)
    tasks = {t["task_id"]: t for t in data["portal.tasks"]}
    reminders = {r["reminder_id"]: r for r in data["portal.task_reminders"]}
    alerts = [a for a in data["portal.alerts"] if a["kind"] == "reminder"]
    assert alerts
    for alert in alerts:
        reminder = reminders[alert["source_reminder_id"]]
        task = tasks[reminder["task_id"]]
        assert reminder["sent_at"] is not None and reminder["sent_at"] == alert["created_at"]
        assert alert["user_id"] == task["assignee_user_id"]
        assert alert["message"] == f'Task "{task["title"]}" is due {task["due_at"]:%Y-%m-%d %H:%M}'
    # Reminders not yet due are unsent; due ones were dispatched.
    for r in reminders.values():
        assert (r["sent_at"] is None) == (r["remind_at"] + timedelta(seconds=120) > now)


def test_every_campaign_has_its_calendar(world: StandInWorld, data: Any) -> None:
    by_campaign: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in data["portal.tasks"]:
        by_campaign[t["campaign_id"]].append(t)
    for fact in world.campaigns:
        launches = [t for t in by_campaign[fact.campaign_id] if t["title"].startswith("Launch ")]
        assert [t["due_at"].date() for t in launches] == [fact.starts_on]
    assert by_campaign[None], "company-level tasks (business reviews) have no campaign"


def test_events_happened_by_the_as_of_date_schedules_may_lie_after(world: StandInWorld, tables: Any, data: Any) -> None:
    now = datetime.combine(world.as_of, datetime.max.time(), UTC)
    scheduled = {"portal.tasks.due_at", "portal.task_reminders.remind_at", "portal.oauth_tokens.expires_at"}
    late = []
    for name, table in tables.items():
        for c in table.columns:
            column = MODEL.table_map[name].column(c)
            assert column is not None
            if column.type != "timestamptz" or f"{name}.{c}" in scheduled:
                continue
            after = [r[c] for r in data[name] if r[c] is not None and r[c] > now]
            if after:
                late.append(f"{name}.{c}: {after[:2]}")
    assert late == []
    assert any(t["due_at"] > now for t in data["portal.tasks"]), "active campaigns have upcoming milestones"
    for name, created, later in [
        ("portal.companies", "created_at", "updated_at"),
        ("portal.users", "created_at", "updated_at"),
        ("portal.contacts", "created_at", "updated_at"),
        ("portal.tasks", "created_at", "updated_at"),
    ]:
        assert all(r[created] <= r[later] for r in data[name]), name


def test_no_usable_secret_is_generated(data: Any) -> None:
    hashes = [r["token_sha256"] for r in data["portal.oauth_tokens"]]
    assert hashes and all(len(h) == 32 for h in hashes) and len(set(hashes)) == len(hashes)
    # Integrations name a secret in the vault; none of them holds anything shaped like a key or a token.
    for r in data["portal.integrations"]:
        assert re.fullmatch(r"vault:kv/promptsales/integrations/company-\d+/[a-z_]+", r["secret_ref"])
    columns = {c for rows in data.values() for c in (rows[0] if rows else {})}
    assert not {c for c in columns if re.search(r"password|secret$|api_key|client_secret", c)}


def test_people_look_real_and_emails_are_unique(data: Any) -> None:
    emails = [u["email"] for u in data["portal.users"]]
    assert len({e.lower() for e in emails}) == len(emails)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@[a-z0-9-]+\.example", e) for e in emails)
    names = [c["full_name"] for c in data["portal.contacts"]]
    assert len(set(names)) > len(names) * 0.8
    assert not any("lorem" in n.lower() for n in names)


def test_incoherent_worlds_are_refused_with_the_reason() -> None:
    world = small_world()
    orphan = replace(world.campaigns[0], campaign_id=99_999, brand_id=4_242)
    with pytest.raises(ValueError, match=r"campaigns of unknown brand ids \[4242\]"):
        portal_tables(replace(world, campaigns=[*world.campaigns, orphan]))
    firm = replace(world.brands[0], brand_name="PromptSales")
    with pytest.raises(ValueError, match="firm's own company"):
        portal_tables(replace(world, brands=[firm, *world.brands[1:]]))


def test_products_are_the_ones_the_world_campaigns_sell_at_the_brands_price() -> None:
    from generators.data.layout import brand_traits

    world = real_world()
    products: dict[int, dict[str, float]] = defaultdict(dict)
    for r in rows_of({t.table: t for t in portal_tables(world)}["portal.products"]):
        products[r["company_id"]][r["name"]] = r["list_price_usd"]
    named = 0
    for brand in world.brands:
        traits = brand_traits(world.seed, brand)
        assert {p: products[brand.brand_id][p] for p in traits.products} == dict.fromkeys(
            traits.products, round(traits.ticket_usd, 2)
        )
        for c in (c for c in world.campaigns if c.brand_id == brand.brand_id):
            named += any(c.campaign_name.lower().startswith(p.lower()) for p in traits.products)
    assert named > len(world.campaigns) / 4, "campaign names mention the products the portal lists"


def test_a_world_at_full_scale_stays_coherent_and_fast() -> None:
    big = small_world(seed=7, brands=120, campaigns=1_000)
    started = datetime.now(UTC)
    tables = portal_tables(big)
    seconds = (datetime.now(UTC) - started).total_seconds()
    counts = {t.table: t.rows for t in tables}
    assert counts["portal.companies"] == 121
    assert counts["portal.campaigns"] == 1_000
    assert counts["portal.tasks"] >= 5_000
    assert seconds < 20
