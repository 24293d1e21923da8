"""PromptCrm tables of a world: clients and their homes, campaign links, leads, interactions, bots, purchase-intent
scores and sales, in foreign-key order.

Clients are generated in chunks of `WorldScale.client_chunk`, each from its own stream. A client's national ID and
JSON context travel as plaintext columns (`national_id`, `context_json`) that the SQL Server loader encrypts on the
server (see `server_side`); a home's `location` is built on the server from its latitude and longitude.

Per campaign (from `World.commerce`): the links, with `converted` set exactly for the clients who bought; one lead
per buyer (won, closed at the first purchase) and for a quarter of the other linked clients; the contacts the
campaign caused (email, SMS, WhatsApp, chat, calls, voice, store visits), of which most chats and many voice calls
are answered by a bot (one bot response each); purchase-intent scores (one per link, two more per lead, rising for
buyers); and the sales themselves - the same sales PromptAds' daily results count. Clients no campaign reached
still get organic leads and contacts.

Nullable integers, datetimes and texts are lists with None; decimals are float64 (exact cents / 100, scores to
four decimals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from generators.data.batches import (
    SECONDS_PER_DAY,
    Chunk,
    batches_of,
    cents_to_amount,
    labels,
    split_integer,
    stream,
)
from generators.data.commerce import LEAD_STATUSES, LOST, WON, CampaignCommerce
from generators.data.layout import CampaignPlan, interactions_for, leads_for
from generators.data.people import client_strings, home_city, offset_point
from generators.data.reference import channels, markets
from generators.data.tables import TableData

if TYPE_CHECKING:
    from generators.data.world import World

CLIENT_SERVER_SIDE = {
    "national_id": "encrypt into national_id_enc and hash into national_id_hmac (sec.fn_NationalIdHmac)",
    "context_json": "encrypt into context_enc",
}
LOCATION_SERVER_SIDE = {"location": "geography::Point(latitude, longitude, 4326)"}

CRM_CHANNELS = ("email", "sms", "whatsapp", "web_chat", "facebook", "instagram", "phone", "store")
EMAIL, SMS, WHATSAPP, WEB_CHAT, FACEBOOK, INSTAGRAM, PHONE, STORE = range(len(CRM_CHANNELS))
CHAT_CHANNELS = (WEB_CHAT, WHATSAPP, FACEBOOK, INSTAGRAM)
CHAT_CHANNEL_SHARES = np.array([0.45, 0.35, 0.1, 0.1])
DIRECTIONS = ("inbound", "outbound")
INTERACTION_KINDS = ("message", "call", "email", "visit", "chat", "voice")


@dataclass(frozen=True)
class ContactType:
    kind: int
    direction: int
    channel: int
    """-1: one of CHAT_CHANNELS."""
    share: float
    bot_share: float
    summaries: tuple[str | None, ...]


CONTACT_TYPES = (
    ContactType(
        2,
        1,
        EMAIL,
        0.30,
        0.0,
        (
            "Sent the {campaign} email about {product}",
            "Newsletter featuring {product}",
            "Offer reminder for {product} sent",
            None,
        ),
    ),
    ContactType(0, 1, SMS, 0.12, 0.0, ("SMS with the {brand} offer code", "Delivery update sent by SMS", None)),
    ContactType(
        0,
        0,
        WHATSAPP,
        0.08,
        0.0,
        ("Client asked about sizes and colours of {product}", "Client asked whether {product} is in stock", None),
    ),
    ContactType(
        4,
        0,
        -1,
        0.22,
        0.8,
        (
            "Chat about the price of {product}",
            "Chat about an order's status",
            "Questions about the {brand} promotion",
            None,
        ),
    ),
    ContactType(5, 0, PHONE, 0.06, 0.6, ("Voice call about store hours", "Voice call about a return", None)),
    ContactType(
        1,
        1,
        PHONE,
        0.12,
        0.0,
        (
            "Follow-up call after the {campaign} campaign",
            "Call to confirm interest in {product}",
            "Left a voicemail about {product}",
            None,
        ),
    ),
    ContactType(3, 0, STORE, 0.06, 0.0, ("Visited the store to see {product}", "Store visit; tried {product}", None)),
    ContactType(
        2, 0, EMAIL, 0.04, 0.0, ("Client replied to the {campaign} email", "Client asked for an invoice", None)
    ),
)
TYPE_SHARES = np.array([t.share for t in CONTACT_TYPES])
CHAT_TYPE, VOICE_TYPE = 3, 4

ORGANIC_LEAD_SHARE = 0.05
ORGANIC_CONTACT_SHARE = 0.3
ORGANIC_SOURCES = ("organic_search", "referral", "event", "chatbot")
ORGANIC_SOURCE_SHARES = np.array([0.4, 0.25, 0.15, 0.2])
ORGANIC_STATUS_SHARES = (0.25, 0.3, 0.2, 0.25)  # new, contacted, qualified, lost (organic leads never show a sale)
ACQUIRED_SHARE = 0.4
"""Share of linked clients whose CRM record was created by the campaign that first reached them."""
WINDOW_START = np.datetime64("2024-07-01T00:00:00", "s")
BASE_CREATED_FROM = np.datetime64("2018-01-01T00:00:00", "s")


def _table(
    name: str,
    columns: tuple[str, ...],
    rows: int,
    chunks: Callable[[], Iterable[Chunk]],
    finish: Callable[[Chunk], Chunk] | None = None,
    **kw: Any,
) -> TableData:
    return TableData("crm", name, columns, rows, batches_of(chunks, finish), **kw)


def _as_of_end(world: World, margin_s: int = 60) -> np.datetime64:
    return np.datetime64(world.as_of, "s") + np.timedelta64(SECONDS_PER_DAY - margin_s, "s")


def _nullable_datetimes(values: np.ndarray) -> list[Any]:
    """datetime objects, None for NaT (what numpy's tolist gives for datetime64[s])."""
    return list(values.astype("datetime64[s]").tolist())


def _text(template: str | None, plan: CampaignPlan | None) -> str | None:
    if template is None:
        return None
    if plan is None:
        return template.format(campaign="welcome", product="our products", brand="the store")
    return template.format(campaign=plan.facts.campaign_name, product=plan.product, brand=plan.brand.brand_name)[:400]


# --------------------------------------------------------------------------- clients


def _chunks(world: World) -> list[np.ndarray]:
    size, total = world.scale.client_chunk, world.scale.clients
    return [np.arange(start + 1, min(start + size, total) + 1, dtype=np.int64) for start in range(0, total, size)]


def client_created_at(world: World, chunk: int, ids: np.ndarray) -> np.ndarray:
    """When each client's record was created: by the campaign that first reached them, or before July 2024."""
    rng = stream(world.seed, "crm.clients.created", chunk)
    n = ids.size
    span = int((WINDOW_START - BASE_CREATED_FROM) / np.timedelta64(1, "s"))
    base = BASE_CREATED_FROM + rng.integers(0, span, n).astype("timedelta64[s]")
    first = world.first_link_at[ids - 1]
    reached = first < np.iinfo(np.int64).max
    acquired = reached & (rng.random(n) < ACQUIRED_SHARE)
    before = rng.integers(300, 2 * SECONDS_PER_DAY, n)
    created_s = np.where(acquired, first - before, base.astype(np.int64))
    created_s = np.minimum(created_s, np.where(reached, first, created_s))
    millis = rng.integers(0, 1000, n)
    return (created_s * 1000 + millis).astype("datetime64[ms]")


CLIENT_COLUMNS = (
    "client_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "national_id_country",
    "national_id",
    "context_json",
    "birth_year",
    "market_code",
    "consent_marketing",
    "created_at",
)


def clients_table(world: World) -> TableData:
    def chunks() -> Iterator[Chunk]:
        base = world.client_base
        country_of = [m.country_code for m in markets()]
        code_of = [m.code for m in markets()]
        curp_seen: dict[str, int] = {}  # CURP stems issued so far in this pass, for the differentiator
        for k, ids in enumerate(_chunks(world)):
            strings = client_strings(world.seed, k, ids, base, curp_seen)
            index = ids - 1
            rng = stream(world.seed, "crm.clients.consent", k)
            yield {
                "client_id": ids.astype(np.int32),
                "first_name": strings.first_name,
                "last_name": strings.last_name,
                "email": strings.email,
                "phone": strings.phone,
                "national_id_country": labels(base.market[index], country_of),
                "national_id": strings.national_id,
                "context_json": strings.context_json,
                "birth_year": base.birth_year[index].astype(np.int16),
                "market_code": labels(base.market[index], code_of),
                "consent_marketing": rng.random(ids.size) < 0.72,
                "created_at": client_created_at(world, k, ids),
            }

    return _table(
        "crm.clients",
        CLIENT_COLUMNS,
        world.scale.clients,
        chunks,
        explicit_identity=True,
        server_side=CLIENT_SERVER_SIDE,
    )


def client_locations_table(world: World) -> TableData:
    def chunks() -> Iterator[Chunk]:
        base = world.client_base
        for ids in _chunks(world):
            index = ids - 1
            yield {
                "client_id": ids.astype(np.int32),
                "city": home_city(base, index),
                "latitude": base.latitude[index],
                "longitude": base.longitude[index],
            }

    return _table(
        "crm.client_locations",
        ("client_id", "city", "latitude", "longitude"),
        world.scale.clients,
        chunks,
        server_side=LOCATION_SERVER_SIDE,
    )


# --------------------------------------------------------------------------- links and leads


def client_campaigns_table(world: World) -> TableData:
    def chunks() -> Iterator[Chunk]:
        for plan, c in zip(world.plans, world.commerce, strict=True):
            yield {
                "campaign_id": np.full(c.client_id.size, plan.campaign_id, dtype=np.int32),
                "client_id": c.client_id.astype(np.int32),
                "linked_at": c.linked_at,
                "first_channel_code": [plan.channel_codes[int(j)] for j in c.first_channel.tolist()],
                "converted": c.converted,
            }

    rows = sum(c.linked_clients for c in world.campaigns)
    columns = ("campaign_id", "client_id", "linked_at", "first_channel_code", "converted")
    return _table("crm.client_campaigns", columns, rows, chunks)


def _campaign_leads(world: World, plan: CampaignPlan, c: CampaignCommerce) -> Chunk:
    rng = stream(world.seed, "crm.leads", plan.campaign_id)
    rows = np.flatnonzero(c.lead_status >= 0)
    status = c.lead_status[rows].astype(np.int64)
    linked = c.linked_at[rows]
    end = _as_of_end(world)
    created = linked + rng.integers(0, 2 * 3600, rows.size).astype("timedelta64[s]")
    closed = np.full(rows.size, np.datetime64("NaT", "s"))
    won = status == WON
    if won.any():
        position = np.searchsorted(c.client_id, c.sale_client)
        first_index = np.unique(position, return_index=True)
        first_sale = np.full(c.client_id.size, np.datetime64("NaT", "s"))
        first_sale[first_index[0]] = c.sold_at[first_index[1]]
        closed[won] = first_sale[rows[won]]
        created[won] = np.minimum(created[won], closed[won])
    lost = status == LOST
    closed[lost] = np.minimum(
        created[lost] + rng.integers(SECONDS_PER_DAY, 30 * SECONDS_PER_DAY, int(lost.sum())).astype("timedelta64[s]"),
        end,
    )
    created = np.minimum(created, end)
    channel_of = c.first_channel[rows]
    source = np.where(
        np.array([plan.channel_codes[int(j)] == "influencers" for j in channel_of], dtype=bool),
        1,
        np.where(np.array([plan.channel_codes[int(j)] == "email" for j in channel_of], dtype=bool), 3, 0),
    )
    source = np.where(rng.random(rows.size) < 0.08, 4, source)  # some leads start in a chatbot conversation
    return {
        "client_id": c.client_id[rows],
        "source": source.astype(np.int8),
        "campaign_id": np.full(rows.size, plan.campaign_id, dtype=np.int64),
        "status": status.astype(np.int8),
        "created_at": created,
        "closed_at": closed,
    }


def _organic_leads(world: World, chunk: int, ids: np.ndarray) -> Chunk:
    rng = stream(world.seed, "crm.leads.organic", chunk)
    count = round(ORGANIC_LEAD_SHARE * ids.size)
    who = np.sort(rng.choice(ids, size=count, replace=False))
    created_min = np.maximum(client_created_at(world, chunk, ids).astype("datetime64[s]"), WINDOW_START)
    created_min = created_min[np.searchsorted(ids, who)]
    end = _as_of_end(world, 3600)
    span = np.maximum((end - created_min) / np.timedelta64(1, "s"), 1).astype(np.int64)
    created = created_min + (rng.random(count) * span).astype(np.int64).astype("timedelta64[s]")
    status = np.repeat(np.array([0, 1, 2, LOST]), split_integer(count, ORGANIC_STATUS_SHARES))[rng.permutation(count)]
    closed = np.full(count, np.datetime64("NaT", "s"))
    lost = status == LOST
    closed[lost] = np.minimum(
        created[lost] + rng.integers(SECONDS_PER_DAY, 45 * SECONDS_PER_DAY, int(lost.sum())).astype("timedelta64[s]"),
        end,
    )
    source = rng.choice(len(ORGANIC_SOURCES), size=count, p=ORGANIC_SOURCE_SHARES)
    return {
        "client_id": who,
        "source": (source + 10).astype(np.int8),
        "campaign_id": np.zeros(count, dtype=np.int64),
        "status": status.astype(np.int8),
        "created_at": created,
        "closed_at": closed,
    }


CAMPAIGN_SOURCES = ("campaign_ad", "influencer", "organic_search", "email", "chatbot")


def _lead_source(code: int) -> str:
    return ORGANIC_SOURCES[code - 10] if code >= 10 else CAMPAIGN_SOURCES[code]


def leads_table(world: World) -> TableData:
    campaign_rows = [leads_for(p.facts.linked_clients, p.buyers) for p in world.plans]
    organic_rows = [round(ORGANIC_LEAD_SHARE * ids.size) for ids in _chunks(world)]
    rows = sum(campaign_rows) + sum(organic_rows)

    def chunks() -> Iterator[Chunk]:
        next_id = 1
        for plan, c in zip(world.plans, world.commerce, strict=True):
            part = _campaign_leads(world, plan, c)
            yield _lead_chunk(part, next_id)
            next_id += part["client_id"].size
        for k, ids in enumerate(_chunks(world)):
            part = _organic_leads(world, k, ids)
            yield _lead_chunk(part, next_id)
            next_id += part["client_id"].size

    def finish(batch: Chunk) -> Chunk:
        out = dict(batch)
        out["source_code"] = [_lead_source(v) for v in batch["source_code"].tolist()]
        out["campaign_id"] = [v or None for v in batch["campaign_id"].tolist()]
        out["lead_status"] = labels(batch["lead_status"], LEAD_STATUSES)
        out["closed_at"] = _nullable_datetimes(batch["closed_at"])
        return out

    columns = ("lead_id", "client_id", "source_code", "campaign_id", "lead_status", "created_at", "closed_at")
    return _table("crm.leads", columns, rows, chunks, finish, explicit_identity=True)


def _lead_chunk(part: Chunk, first_id: int) -> Chunk:
    n = part["client_id"].size
    return {
        "lead_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "client_id": part["client_id"].astype(np.int32),
        "source_code": part["source"],
        "campaign_id": part["campaign_id"],
        "lead_status": part["status"],
        "created_at": part["created_at"].astype("datetime64[s]"),
        "closed_at": part["closed_at"].astype("datetime64[s]"),
    }


# --------------------------------------------------------------------------- interactions and bots


def contact_counts(total: int) -> tuple[np.ndarray, int, int]:
    """Contacts per type, and how many chats and voice calls a bot handles (fixed by the total alone)."""
    per_type = split_integer(total, TYPE_SHARES)
    chats = round(CONTACT_TYPES[CHAT_TYPE].bot_share * int(per_type[CHAT_TYPE]))
    voice = round(CONTACT_TYPES[VOICE_TYPE].bot_share * int(per_type[VOICE_TYPE]))
    return per_type, chats, voice


def bot_count(total: int) -> int:
    _, chats, voice = contact_counts(total)
    return chats + voice


@dataclass(frozen=True)
class Contacts:
    client_id: np.ndarray
    occurred_at: np.ndarray
    contact_type: np.ndarray
    channel: np.ndarray
    bot: np.ndarray


def _contacts(rng: np.random.Generator, client_id: np.ndarray, start: np.ndarray, end: np.ndarray) -> Contacts:
    """Contacts of the given clients (one row each), between start and end, typed and with bots assigned exactly."""
    n = client_id.size
    per_type, bot_chats, bot_voice = contact_counts(n)
    kind = np.repeat(np.arange(len(CONTACT_TYPES)), per_type)[rng.permutation(n)]
    bot = np.zeros(n, dtype=bool)
    bot[np.flatnonzero(kind == CHAT_TYPE)[:bot_chats]] = True
    bot[np.flatnonzero(kind == VOICE_TYPE)[:bot_voice]] = True
    channel = np.array([t.channel for t in CONTACT_TYPES])[kind]
    chats = channel < 0
    channel[chats] = np.array(CHAT_CHANNELS)[
        rng.choice(len(CHAT_CHANNELS), size=int(chats.sum()), p=CHAT_CHANNEL_SHARES)
    ]
    span = np.maximum((end - start) / np.timedelta64(1, "s"), 1).astype(np.int64)
    occurred = start + (rng.random(n) * span).astype(np.int64).astype("timedelta64[s]")
    order = np.lexsort((client_id, occurred))
    return Contacts(client_id[order], occurred[order], kind[order], channel[order], bot[order])


def campaign_contacts(world: World, plan: CampaignPlan, c: CampaignCommerce) -> Contacts:
    rng = stream(world.seed, "crm.interactions", plan.campaign_id)
    total = interactions_for(c.client_id.size, plan.buyers)
    weight = np.where(c.converted, 3.0, np.where(c.lead_status >= 0, 2.0, 1.0))
    per_link = rng.multinomial(total, weight / weight.sum())
    link = np.repeat(np.arange(c.client_id.size), per_link)
    start = c.linked_at[link]
    horizon = min(plan.last_day.astype("datetime64[s]") + np.timedelta64(22 * SECONDS_PER_DAY, "s"), _as_of_end(world))
    return _contacts(rng, c.client_id[link], start, np.full(link.size, horizon))


def organic_contacts(world: World, chunk: int, ids: np.ndarray) -> Contacts:
    rng = stream(world.seed, "crm.interactions.organic", chunk)
    count = round(ORGANIC_CONTACT_SHARE * ids.size)
    who = np.sort(rng.choice(ids, size=count, replace=True))
    created = np.maximum(client_created_at(world, chunk, ids).astype("datetime64[s]"), WINDOW_START)
    start = created[np.searchsorted(ids, who)]
    return _contacts(rng, who, start, np.full(count, _as_of_end(world)))


INTERACTION_COLUMNS = (
    "interaction_id",
    "occurred_on",
    "occurred_at",
    "client_id",
    "campaign_id",
    "channel_code",
    "direction",
    "interaction_kind",
    "handled_by_bot",
    "summary",
)


def interactions_table(world: World) -> TableData:
    chunk_ids = _chunks(world)
    rows = sum(interactions_for(c.linked_clients, p.buyers) for c, p in zip(world.campaigns, world.plans, strict=True))
    rows += sum(round(ORGANIC_CONTACT_SHARE * ids.size) for ids in chunk_ids)

    def one(contacts: Contacts, plan: CampaignPlan | None, first_id: int, rng: np.random.Generator) -> Chunk:
        n = contacts.client_id.size
        texts: list[str | None] = []
        pick = rng.integers(0, 1 << 30, n).tolist()
        for t, p in zip(contacts.contact_type.tolist(), pick, strict=True):
            options = CONTACT_TYPES[t].summaries
            texts.append(_text(options[p % len(options)], plan))
        types = contacts.contact_type
        return {
            "interaction_id": np.arange(first_id, first_id + n, dtype=np.int64),
            "occurred_on": contacts.occurred_at.astype("datetime64[D]"),
            "occurred_at": contacts.occurred_at,
            "client_id": contacts.client_id.astype(np.int32),
            "campaign_id": np.full(n, plan.campaign_id if plan else 0, dtype=np.int64),
            "channel_code": contacts.channel.astype(np.int8),
            "direction": np.array([t.direction for t in CONTACT_TYPES], dtype=np.int8)[types],
            "interaction_kind": np.array([t.kind for t in CONTACT_TYPES], dtype=np.int8)[types],
            "handled_by_bot": contacts.bot,
            "summary": texts,
        }

    def chunks() -> Iterator[Chunk]:
        next_id = 1
        for plan, c in zip(world.plans, world.commerce, strict=True):
            part = one(
                campaign_contacts(world, plan, c),
                plan,
                next_id,
                stream(world.seed, "crm.interactions.text", plan.campaign_id),
            )
            next_id += part["client_id"].size
            yield part
        for k, ids in enumerate(chunk_ids):
            part = one(
                organic_contacts(world, k, ids), None, next_id, stream(world.seed, "crm.interactions.text.organic", k)
            )
            next_id += part["client_id"].size
            yield part

    def finish(batch: Chunk) -> Chunk:
        out = dict(batch)
        out["campaign_id"] = [v or None for v in batch["campaign_id"].tolist()]
        out["channel_code"] = labels(batch["channel_code"], CRM_CHANNELS)
        out["direction"] = labels(batch["direction"], DIRECTIONS)
        out["interaction_kind"] = labels(batch["interaction_kind"], INTERACTION_KINDS)
        return out

    return _table("crm.interactions", INTERACTION_COLUMNS, rows, chunks, finish, explicit_identity=True)


BOT_INTENTS = (
    "order_status",
    "product_info",
    "pricing",
    "store_hours",
    "returns",
    "complaint",
    "promotion",
    "human_agent",
)
INTENT_SHARES = np.array([0.22, 0.2, 0.16, 0.1, 0.1, 0.07, 0.1, 0.05])
BOT_RESPONSES = {
    "order_status": "Hi {first_name}, your order {order} is on its way; you can track it here: {link}.",
    "product_info": "Here are the details of {product}: sizes, colours and availability near you: {link}.",
    "pricing": "{product} costs {price} today; members save {pct}% with their code.",
    "store_hours": "Our {city} store is open Monday to Saturday, 9:00-20:00, and Sunday 10:00-18:00.",
    "returns": "You can return any purchase within 30 days; start your return here: {link}.",
    "complaint": "We are sorry, {first_name}. An agent will review your case {case} within 24 hours.",
    "promotion": "This week's offer: {pct}% off {product} with the code {code}.",
    "human_agent": "Connecting you with an agent now; average waiting time is {minutes} minutes.",
}
FLOW_CHANNELS = ((0, WEB_CHAT), (0, WHATSAPP), (0, FACEBOOK), (0, INSTAGRAM), (1, PHONE))
BOT_KINDS = ("chatbot", "voicebot")


def flow_id(bot_kind: np.ndarray, channel: np.ndarray, intent: np.ndarray) -> np.ndarray:
    """The flow that answers an intent on a channel (flows are numbered channel by channel, intent by intent)."""
    slot = {(k, ch): i for i, (k, ch) in enumerate(FLOW_CHANNELS)}
    position = np.array([slot[(int(k), int(ch))] for k, ch in zip(bot_kind, channel, strict=True)], dtype=np.int64)
    return position * len(BOT_INTENTS) + intent + 1


def bot_flows_table(world: World) -> TableData:
    names, kinds, chans, intents, templates = [], [], [], [], []
    for k, ch in FLOW_CHANNELS:
        for intent in BOT_INTENTS:
            label = {
                "web_chat": "Web chat",
                "whatsapp": "WhatsApp",
                "facebook": "Facebook Messenger",
                "instagram": "Instagram DM",
                "phone": "Phone",
            }[CRM_CHANNELS[ch]]
            names.append(f"{BOT_KINDS[k].capitalize()} - {label} - {intent.replace('_', ' ')}")
            kinds.append(BOT_KINDS[k])
            chans.append(CRM_CHANNELS[ch])
            intents.append(intent)
            templates.append(BOT_RESPONSES[intent])
    n = len(names)
    chunk: Chunk = {
        "flow_id": np.arange(1, n + 1, dtype=np.int32),
        "flow_name": names,
        "bot_kind": kinds,
        "channel_code": chans,
        "trigger_intent": intents,
        "response_template": templates,
        "is_active": np.ones(n, dtype=bool),
    }
    return _table("crm.bot_flows", tuple(chunk), n, lambda: [chunk], explicit_identity=True)


def _bot_rows(contacts: Contacts, rng: np.random.Generator, first_id: int) -> Chunk:
    rows = np.flatnonzero(contacts.bot)
    n = rows.size
    kind = np.where(contacts.contact_type[rows] == VOICE_TYPE, 1, 0)
    intent = rng.choice(len(BOT_INTENTS), size=n, p=INTENT_SHARES)
    confidence = np.round(np.clip(rng.beta(7.0, 2.0, n), 0.05, 1.0), 4)
    # Bots hand over when unsure, and on complaints and explicit requests for a person most of the time.
    human = (confidence < 0.6) | (np.isin(intent, [5, 7]) & (rng.random(n) < 0.8))
    return {
        "response_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "flow_id": flow_id(kind, contacts.channel[rows], intent).astype(np.int32),
        "client_id": contacts.client_id[rows].astype(np.int32),
        "responded_at": contacts.occurred_at[rows] + rng.integers(2, 20, n).astype("timedelta64[s]"),
        "detected_intent": intent.astype(np.int8),
        "confidence": confidence,
        "handed_to_human": human,
    }


def bot_responses_table(world: World) -> TableData:
    chunk_ids = _chunks(world)
    rows = sum(
        bot_count(interactions_for(c.linked_clients, p.buyers))
        for c, p in zip(world.campaigns, world.plans, strict=True)
    )
    rows += sum(bot_count(round(ORGANIC_CONTACT_SHARE * ids.size)) for ids in chunk_ids)

    def chunks() -> Iterator[Chunk]:
        next_id = 1
        for plan, c in zip(world.plans, world.commerce, strict=True):
            rng = stream(world.seed, "crm.bot_responses", plan.campaign_id)
            part = _bot_rows(campaign_contacts(world, plan, c), rng, next_id)
            next_id += part["response_id"].size
            yield part
        for k, ids in enumerate(chunk_ids):
            rng = stream(world.seed, "crm.bot_responses.organic", k)
            part = _bot_rows(organic_contacts(world, k, ids), rng, next_id)
            next_id += part["response_id"].size
            yield part

    def finish(batch: Chunk) -> Chunk:
        out = dict(batch)
        out["detected_intent"] = labels(batch["detected_intent"], BOT_INTENTS)
        return out

    columns = (
        "response_id",
        "flow_id",
        "client_id",
        "responded_at",
        "detected_intent",
        "confidence",
        "handed_to_human",
    )
    return _table("crm.bot_responses", columns, rows, chunks, finish, explicit_identity=True)


# --------------------------------------------------------------------------- purchase intent


def model_version(at: np.ndarray) -> np.ndarray:
    """The purchase-intent model in production at each time (0, 1, 2 -> MODEL_VERSIONS)."""
    return np.searchsorted(MODEL_SWITCHES, at, side="right").astype(np.int8)


MODEL_VERSIONS = ("pi-2024.2", "pi-2025.1", "pi-2025.2")
MODEL_SWITCHES = np.array(["2025-03-01T00:00:00", "2025-09-01T00:00:00"], dtype="datetime64[s]")


def campaign_scores(world: World, plan: CampaignPlan, c: CampaignCommerce) -> Chunk:
    """One score per link shortly after it, two more per lead; a buyer's rise towards the purchase."""
    rng = stream(world.seed, "crm.purchase_intent_scores", plan.campaign_id)
    n = c.client_id.size
    horizon = min(plan.last_day.astype("datetime64[s]") + np.timedelta64(30 * SECONDS_PER_DAY, "s"), _as_of_end(world))
    gap = np.maximum((horizon - c.linked_at) / np.timedelta64(1, "s"), 600).astype(np.int64)
    first_at = c.linked_at + (gap * rng.uniform(0.0005, 0.05, n)).astype(np.int64).astype("timedelta64[s]")
    first = np.clip(c.propensity * rng.lognormal(0.0, 0.3, n), 0.001, 0.999)
    leads = np.flatnonzero(c.lead_status >= 0)
    m = leads.size
    second_at = c.linked_at[leads] + (gap[leads] * rng.uniform(0.2, 0.5, m)).astype(np.int64).astype("timedelta64[s]")
    third_at = c.linked_at[leads] + (gap[leads] * rng.uniform(0.6, 0.99, m)).astype(np.int64).astype("timedelta64[s]")
    q = c.propensity[leads]
    status = c.lead_status[leads]
    # Buyers score higher as they approach the purchase; lost leads fade; open leads drift.
    target = np.where(
        status == WON, rng.uniform(0.6, 0.97, m), np.where(status == LOST, q * 0.4, q * rng.uniform(0.8, 1.6, m))
    )
    second = np.clip(q + (target - q) * rng.uniform(0.3, 0.6, m), 0.001, 0.999)
    third = np.clip(target * rng.lognormal(0.0, 0.05, m), 0.001, 0.999)
    client = np.concatenate([c.client_id, c.client_id[leads], c.client_id[leads]])
    at = np.concatenate([first_at, second_at, third_at])
    score = np.round(np.concatenate([first, second, third]), 4)
    order = np.lexsort((at, client))
    return {
        "client_id": client[order].astype(np.int32),
        "campaign_id": np.full(client.size, plan.campaign_id, dtype=np.int32),
        "scored_at": at[order],
        "score": score[order],
        "model_version": model_version(at[order]),
    }


def purchase_intent_table(world: World) -> TableData:
    rows = sum(
        c.linked_clients + 2 * leads_for(c.linked_clients, p.buyers)
        for c, p in zip(world.campaigns, world.plans, strict=True)
    )

    def chunks() -> Iterator[Chunk]:
        for plan, c in zip(world.plans, world.commerce, strict=True):
            yield campaign_scores(world, plan, c)

    def finish(batch: Chunk) -> Chunk:
        out = dict(batch)
        out["model_version"] = labels(batch["model_version"], MODEL_VERSIONS)
        return out

    columns = ("client_id", "campaign_id", "scored_at", "score", "model_version")
    return _table("crm.purchase_intent_scores", columns, rows, chunks, finish)


# --------------------------------------------------------------------------- sales

SALE_COLUMNS = (
    "sale_id",
    "sale_date",
    "sold_at",
    "client_id",
    "campaign_id",
    "channel_code",
    "market_code",
    "quantity",
    "amount_usd",
    "latitude",
    "longitude",
)


def campaign_sales(world: World, plan: CampaignPlan, c: CampaignCommerce, first_id: int) -> Chunk:
    """The campaign's sales where they happened: near the buyer's home when it is in the sale's market (delivery or
    the nearest shop), else at the market's reference store."""
    rng = stream(world.seed, "crm.sales", plan.campaign_id)
    n = c.sold_at.size
    base = world.client_base
    market = plan.market_global[c.sale_market]
    home = base.market[c.sale_client - 1].astype(np.int64) == market
    all_markets = markets()
    store_lat = np.array([mk.latitude for mk in all_markets])[market]
    store_lon = np.array([mk.longitude for mk in all_markets])[market]
    centre_lat = np.where(home, base.latitude[c.sale_client - 1], store_lat)
    centre_lon = np.where(home, base.longitude[c.sale_client - 1], store_lon)
    km = np.where(home, rng.exponential(0.8, n), rng.uniform(0.2, 6.0, n))
    lat, lon = offset_point(centre_lat, centre_lon, km, rng.uniform(0.0, 2 * np.pi, n))
    return {
        "sale_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "sale_date": c.sold_at.astype("datetime64[D]"),
        "sold_at": c.sold_at,
        "client_id": c.sale_client.astype(np.int32),
        "campaign_id": np.full(n, plan.campaign_id, dtype=np.int32),
        "channel_code": plan.channel_global[plan.ad_channel[c.sale_ad]].astype(np.int8),
        "market_code": market.astype(np.int16),
        "quantity": c.quantity.astype(np.int32),
        "amount_usd": cents_to_amount(c.amount_cents),
        "latitude": lat,
        "longitude": lon,
    }


def sales_table(world: World) -> TableData:
    offsets = np.concatenate([[1], 1 + np.cumsum([c.sales_count for c in world.campaigns])]).astype(np.int64)

    def chunks() -> Iterator[Chunk]:
        for k, (plan, c) in enumerate(zip(world.plans, world.commerce, strict=True)):
            yield campaign_sales(world, plan, c, int(offsets[k]))

    def finish(batch: Chunk) -> Chunk:
        out = dict(batch)
        out["channel_code"] = labels(batch["channel_code"], [ch.code for ch in channels()])
        out["market_code"] = labels(batch["market_code"], [m.code for m in markets()])
        return out

    return _table("sales.sales", SALE_COLUMNS, int(offsets[-1] - 1), chunks, finish, explicit_identity=True)


def crm_tables(world: World) -> list[TableData]:
    """Every generated PromptCrm table, parents before children (lead sources and markets deploy with the schema)."""
    return [
        clients_table(world),
        client_locations_table(world),
        client_campaigns_table(world),
        leads_table(world),
        interactions_table(world),
        bot_flows_table(world),
        bot_responses_table(world),
        purchase_intent_table(world),
        sales_table(world),
    ]
