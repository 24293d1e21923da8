"""PromptContent documents of a world: images of its campaigns, the hashtag taxonomy, content requests and the
message logs generated from them.

Each TableData has one column, `document`, holding the MongoDB document as a dict with a deterministic `_id`
(ObjectId: four bytes of the document's creation time, as MongoDB makes them, then eight bytes of a hash of the
seed and the document's key), ready for `generators.content_validation.insert_validated`. The images come from
`generators.data.content.generate_images` fed with `CampaignContext`s built from the world's campaigns, so an
image's brand, product, audience, channel, market and campaign ids are those of PromptAds; PromptAds ads point at
them through `content_asset_id`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from bson import ObjectId

from generators.data.batches import derived_seed, gumbel_top, stream
from generators.data.content import (
    AUDIENCES,
    CHANNEL_NAMES,
    CampaignContext,
    GeneratedImage,
    generate_images,
    hashtag_taxonomy,
    name_pools,
)
from generators.data.layout import CampaignPlan, moment_of
from generators.data.reference import VISUAL_FORMATS, markets
from generators.data.tables import TableData

if TYPE_CHECKING:
    from generators.data.world import World

IMAGE_CHANNELS = ("instagram", "facebook", "tiktok", "youtube", "influencers", "x", "linkedin", "display", "email")
"""Channels an image is made for, in order of preference for a campaign's content context."""


@dataclass(frozen=True)
class ContentWorld:
    contexts: tuple[CampaignContext, ...]
    images: tuple[GeneratedImage, ...]
    ad_assets: dict[int, str]
    """ad_id -> the 24-hex id of the image the ad shows (ads without one are absent)."""
    request_campaigns: tuple[int, ...]


def object_id(moment: datetime, key: str) -> ObjectId:
    digest = hashlib.sha256(f"promptcontent:{key}".encode()).hexdigest()
    return ObjectId(f"{int(moment.timestamp()):08x}{digest[:16]}")


def _context(plan: CampaignPlan) -> CampaignContext:
    facts = plan.facts
    channel = next((ch for ch in IMAGE_CHANNELS if ch in facts.channels), facts.channels[0])
    return CampaignContext(
        campaign_id=facts.campaign_id,
        campaign_name=facts.campaign_name,
        brand=plan.brand.brand_name,
        product=plan.product,
        product_category=plan.brand.industry,
        audience=facts.audiences[0] if facts.audiences else "young_professionals",
        channel=channel,
        market=facts.markets[0],
        starts_on=facts.starts_on,
        objective=facts.objective,
    )


def build_content(world: World) -> ContentWorld:
    """Pick the campaigns with content (every sentiment case's among them), make their images, map ads to them."""
    plans = world.plans
    n = min(world.scale.content_campaigns, len(plans))
    cases = {case.campaign_id for case in world.sentiment_cases}
    forced = [p.index for p in plans if p.campaign_id in cases][:n]
    rng = stream(world.seed, "content.campaigns")
    rest = np.array([p.index for p in plans if p.index not in set(forced)], dtype=np.int64)
    # Campaigns with visual channels are likelier to have made images.
    visual = np.array([sum(ch in IMAGE_CHANNELS for ch in plans[int(i)].facts.channels) + 0.5 for i in rest])
    picked = rest[gumbel_top(rng, visual, n - len(forced))] if rest.size and n > len(forced) else rest[:0]
    chosen = sorted(forced + [int(i) for i in picked])
    contexts = tuple(_context(plans[i]) for i in chosen)
    images: tuple[GeneratedImage, ...] = ()
    if contexts and world.scale.images:
        images = tuple(generate_images(derived_seed(world.seed, "content.images"), contexts, world.scale.images))

    by_campaign: dict[int, list[GeneratedImage]] = {}
    for image in images:
        for cid in image.document["campaign_ids"]:
            by_campaign.setdefault(int(cid), []).append(image)
    ad_assets: dict[int, str] = {}
    for i in chosen:
        plan = plans[i]
        mine = by_campaign.get(plan.campaign_id, [])
        if not mine:
            continue
        for a in range(plan.n_ads):
            if plan.ad_format[a] not in VISUAL_FORMATS:
                continue
            channel = plan.channel_of_ad(a)
            # An image made for the ad's channel when the campaign has one, else the campaign's images in turn.
            fitting = [im for im in mine if channel in im.document["channels"]] or mine
            ad_assets[int(plan.ad_ids[a])] = str(fitting[a % len(fitting)].document["_id"])
    request_campaigns = tuple(plans[i].campaign_id for i in chosen[: world.scale.content_requests])
    return ContentWorld(contexts, images, ad_assets, request_campaigns)


# --------------------------------------------------------------------------- requests and message logs

MESSAGE_TEMPLATES = {
    "awareness": (
        "{Population}, meet {product} from {brand}: {benefit}.",
        "This {moment}, {brand} brings {product} to {city}. See what {population} are talking about.",
        "Discover {product} on {channel}: made with {population} in mind.",
    ),
    "consideration": (
        "{Population}: compare the {product} range and find the one that fits you.",
        "Why do {population} pick {product}? {benefit_cap}, and it shows.",
        "Still deciding? See {product} in action on {channel} before {moment} ends.",
    ),
    "conversion": (
        "{Moment} offer for {population}: {pct}% off {product} at {brand}.",
        "{product} ships to {city} this week. Order now and save {pct}%.",
        "Last days: {pct}% off {product}, only for {population}. Shop now.",
    ),
    "retention": (
        "Welcome back! As one of our {population}, take {pct}% off your next {product}.",
        "Your {brand} rewards are ready: {product} with member pricing this {moment}.",
        "Thank you for choosing {brand}. Reorder {product} in one tap.",
    ),
}
BENEFITS = (
    "built to last",
    "designed for everyday life",
    "made with care",
    "better value than ever",
    "the favourite of the season",
    "lighter, smarter and simpler",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _message_docs(
    world: World, plan: CampaignPlan, request_id: ObjectId, created: datetime, description: str
) -> list[dict[str, Any]]:
    rng = stream(world.seed, "content.message_logs", plan.campaign_id)
    facts = plan.facts
    city = next(m.city for m in markets() if m.code == facts.markets[0])
    channel = CHANNEL_NAMES.get(facts.channels[0], facts.channels[0])
    moment = moment_of(facts.starts_on.month)
    docs = []
    for k, code in enumerate(facts.audiences):
        population = AUDIENCES[code].label
        values = {
            "population": population,
            "Population": _cap(population),
            "product": plan.product,
            "brand": plan.brand.brand_name,
            "benefit": BENEFITS[int(rng.integers(len(BENEFITS)))],
            "moment": moment,
            "Moment": _cap(moment),
            "city": city,
            "channel": channel,
            "pct": (10, 15, 20, 25, 30)[int(rng.integers(5))],
        }
        values["benefit_cap"] = _cap(str(values["benefit"]))
        texts = [_cap(t.format(**values)) for t in MESSAGE_TEMPLATES[facts.objective]]
        prompt = (
            f"Write exactly three short marketing messages (under 200 characters each) for the target population "
            f"'{population}' of this campaign: {description} Channel: {channel}. Objective: {facts.objective}."
        )
        at = created + timedelta(seconds=30 + 20 * k)
        docs.append(
            {
                "_id": object_id(at, f"message_log:{world.seed}:{facts.campaign_id}:{code}"),
                "request_id": request_id,
                "campaign_id": facts.campaign_id,
                "target_population": population,
                "messages": [{"position": i + 1, "text": text} for i, text in enumerate(texts)],
                "generator": "deterministic",
                "prompt": prompt,
                "created_at": at,
                "updated_at": at,
            }
        )
    return docs


def requests_and_logs(world: World) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_id = {p.campaign_id: p for p in world.plans}
    approvers, _ = name_pools()
    requests, logs = [], []
    for cid in world.content.request_campaigns:
        plan = by_id[cid]
        facts = plan.facts
        rng = stream(world.seed, "content.content_requests", cid)
        # Briefs arrive well before the images are made (those are dated 3-30 days before the launch).
        created = datetime.combine(facts.starts_on, time(9, 0), tzinfo=UTC) - timedelta(
            days=int(rng.integers(35, 60)), seconds=int(rng.integers(0, 8 * 3600))
        )
        cities = ", ".join(m.city for m in markets() if m.code in facts.markets)
        channel_names = ", ".join(CHANNEL_NAMES.get(ch, ch) for ch in facts.channels)
        description = (
            f"{plan.brand.brand_name} {facts.objective} campaign '{facts.campaign_name}' for {plan.product}, "
            f"running {facts.starts_on:%d %b %Y} to {facts.ends_on:%d %b %Y} in {cities}, on {channel_names}."
        )
        request_id = object_id(created, f"content_request:{world.seed}:{cid}")
        audiences = [AUDIENCES[a].label for a in facts.audiences] or ["general audience"]
        messages = _message_docs(world, plan, request_id, created, description) if facts.audiences else []
        updated = messages[-1]["updated_at"] if messages else created
        requests.append(
            {
                "_id": request_id,
                "campaign_id": cid,
                "campaign_description": description,
                "target_audiences": audiences,
                "requested_by": approvers[int(rng.integers(len(approvers)))],
                "status": "completed" if messages else "received",
                "created_at": created,
                "updated_at": updated,
            }
        )
        logs.extend(messages)
    return requests, logs


def _documents_table(name: str, make: Any) -> TableData:
    def chunks(batch_rows: int) -> Iterator[dict[str, Any]]:
        documents = make()
        for start in range(0, len(documents), batch_rows):
            yield {"document": documents[start : start + batch_rows]}

    return TableData("content", name, ("document",), len(make()), chunks)


def content_tables(world: World) -> list[TableData]:
    """images, hashtags, content_requests, message_logs (message logs reference their request)."""
    content = world.content

    def images() -> list[dict[str, Any]]:
        return [image.document for image in content.images]

    def hashtags() -> list[dict[str, Any]]:
        entries = hashtag_taxonomy(list(content.images))
        return [{"_id": object_id(e["updated_at"], f"hashtag:{world.seed}:{e['hashtag']}"), **e} for e in entries]

    requests, logs = requests_and_logs(world)
    return [
        _documents_table("images", images),
        _documents_table("hashtags", hashtags),
        _documents_table("content_requests", lambda: requests),
        _documents_table("message_logs", lambda: logs),
    ]
