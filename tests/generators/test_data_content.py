"""PromptContent image generation: determinism, coherent varied descriptions, derived hashtags, document shape."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import numpy as np
import pytest
from bson import ObjectId

from generators.content_validation import validate_document
from generators.data import content
from generators.data.content import (
    CHANNEL_LAYOUTS,
    CampaignContext,
    generate_image_documents,
    generate_images,
    paraphrase,
    sample_campaign_contexts,
    season_for,
)
from mcp_servers.vector_search import description_sha256, to_hashtag

SEED = 20250601
HASHTAG = re.compile(r"^#[a-z0-9]+(?:_[a-z0-9]+)*$")
FIELDS = {
    "_id",
    "url",
    "format",
    "width",
    "height",
    "bytes",
    "alt_text",
    "description",
    "hashtags",
    "campaign_ids",
    "brand",
    "product",
    "audiences",
    "channels",
    "versions",
    "approval",
    "licence",
    "description_sha256",
    "created_at",
    "updated_at",
}


@pytest.fixture(scope="module")
def contexts() -> list[CampaignContext]:
    return sample_campaign_contexts(SEED, 24)


@pytest.fixture(scope="module")
def images(contexts: list[CampaignContext]) -> list[content.GeneratedImage]:
    return generate_images(SEED, contexts, 150)


def sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+(?=[A-Z\"])", text) if part.strip()]


def texts_of(value: object) -> list[str]:
    """Every string inside a document, however deeply nested."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts_of(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in texts_of(item)]
    return []


def test_same_seed_gives_identical_documents(contexts: list[CampaignContext]) -> None:
    first = generate_image_documents(SEED, contexts, 120)
    again = generate_image_documents(SEED, sample_campaign_contexts(SEED, 24), 120)
    assert first == again


def test_different_seeds_give_different_documents(contexts: list[CampaignContext]) -> None:
    first = generate_image_documents(SEED, contexts, 120)
    other = generate_image_documents(SEED + 1, contexts, 120)
    assert {d["_id"] for d in first}.isdisjoint({d["_id"] for d in other})
    different = sum(a["description"] != b["description"] for a, b in zip(first, other, strict=True))
    assert different >= 115


def test_at_least_100_images_with_varied_multi_sentence_descriptions(images: list[content.GeneratedImage]) -> None:
    descriptions = [image.document["description"] for image in images]
    assert len(descriptions) >= 100
    assert len(set(descriptions)) / len(descriptions) >= 0.95
    for text in descriptions:
        assert len(sentences(text)) >= 6, text
        assert 80 <= len(text.split()) <= 200, text
        assert "{" not in text and "None" not in text and "  " not in text
    # Variety inside one campaign: its images do not repeat a setting sentence.
    first_campaign = [image for image in images if image.context.campaign_id == images[0].context.campaign_id]
    settings = [image.attributes.setting.forms for image in first_campaign]
    available = len(content.category_for(images[0].context.product_category).settings)
    assert len(first_campaign) >= 3 and len(set(settings)) == min(len(settings), available)


def test_no_lorem_ipsum_anywhere(images: list[content.GeneratedImage]) -> None:
    for image in images:
        for text in texts_of(image.document):
            assert not re.search(r"lorem|ipsum|dolor sit", text, re.IGNORECASE), text


def test_descriptions_follow_their_campaign(images: list[content.GeneratedImage]) -> None:
    for image in images:
        description, context = image.document["description"], image.context
        assert context.brand in description and context.product in description
        assert image.attributes.city.split(",")[0] in description
        assert image.attributes.layout.text in description and image.attributes.channel_name in description
        assert image.attributes.cta in description
        if context.holiday:
            assert image.attributes.holiday is not None and image.attributes.holiday.text in description


def test_hashtags_are_derived_from_the_campaign_context(images: list[content.GeneratedImage]) -> None:
    counts: Counter[int] = Counter()
    for image in images:
        tags = image.document["hashtags"]
        counts[len(tags)] += 1
        assert 5 <= len(tags) <= 12, tags
        assert len(set(tags)) == len(tags)
        assert all(HASHTAG.match(tag) for tag in tags), tags
        for linked in (image.context, *image.linked):
            assert to_hashtag(linked.brand) in tags
            assert to_hashtag(linked.channel) in tags
            assert to_hashtag(linked.campaign_name) in tags
        assert to_hashtag(image.context.season) in tags
        assert to_hashtag(image.context.product) in tags
        assert to_hashtag(image.context.product_category) in tags
    assert len(counts) >= 3  # not one fixed count for every image


def test_document_fields_and_types(images: list[content.GeneratedImage]) -> None:
    ids = set()
    for image in images:
        document = image.document
        assert set(document) == FIELDS
        assert isinstance(document["_id"], ObjectId) and re.fullmatch(r"[0-9a-f]{24}", str(document["_id"]))
        assert document["_id"].generation_time == document["created_at"].replace(microsecond=0)
        assert str(document["_id"]) in document["url"]
        ids.add(document["_id"])
        assert document["url"].startswith("https://") and document["url"] == document["versions"][-1]["url"]
        layouts = CHANNEL_LAYOUTS[image.context.channel]
        assert (document["format"], document["width"], document["height"]) in {
            (layout.format, layout.width, layout.height) for layout in layouts
        }
        assert document["url"].endswith({"jpeg": ".jpg", "png": ".png", "webp": ".webp"}[document["format"]])
        assert document["bytes"] > 1000
        assert document["alt_text"] and len(document["alt_text"]) <= 160
        assert document["campaign_ids"][0] == image.context.campaign_id
        assert document["channels"][0] == image.context.channel
        assert document["audiences"][0] == image.context.audience
        assert document["description_sha256"] == description_sha256(document["description"])
        numbers = [version["version"] for version in document["versions"]]
        assert numbers == list(range(1, len(numbers) + 1))
        moments = [version["created_at"] for version in document["versions"]]
        assert moments == sorted(moments) and moments[0] == document["created_at"]
        assert document["created_at"] <= document["updated_at"]
        for moment in [document["created_at"], document["updated_at"], *moments]:
            assert isinstance(moment, datetime) and moment.utcoffset() is not None and moment.tzinfo == UTC
        # Content is ready before its campaign starts.
        assert document["created_at"].date() < image.context.starts_on
        approval = document["approval"]
        assert approval["state"] in {"draft", "pending", "approved", "rejected"}
        assert (approval["approved_at"] is not None) == (approval["state"] == "approved")
        assert (approval["approver"] is None) == (approval["state"] == "draft")
        licence = document["licence"]
        assert licence["kind"] in {"owned", "exclusive", "royalty_free", "rights_managed"}
        assert licence["holder"]
        assert (licence["expires_on"] is None) == (licence["kind"] in {"owned", "royalty_free"})
        assert all(re.fullmatch(r"[A-Z]{2}", code) for code in licence["territories"])
        assert image.context.country_code in licence["territories"]
    assert len(ids) == len(images)
    states = Counter(image.document["approval"]["state"] for image in images)
    assert states["approved"] > states["pending"] > 0


def test_documents_pass_the_promptcontent_validator(images: list[content.GeneratedImage]) -> None:
    """The validator rendered from model/content.yaml (the one MongoDB enforces) accepts every document."""
    for image in images:
        assert validate_document("images", image.document) == []


def test_hashtag_taxonomy_classifies_every_hashtag(images: list[content.GeneratedImage]) -> None:
    taxonomy = content.hashtag_taxonomy(images)
    by_tag = {entry["hashtag"]: entry for entry in taxonomy}
    assert [entry["hashtag"] for entry in taxonomy] == sorted(by_tag)
    assert {tag for image in images for tag in image.document["hashtags"]} == set(by_tag)
    for entry in taxonomy:
        assert validate_document("hashtags", entry) == []
    first = images[0]
    assert by_tag[to_hashtag(first.context.brand)]["category"] == "brand"
    assert by_tag[to_hashtag(first.context.channel)]["category"] == "channel"
    assert by_tag[to_hashtag(first.context.season)]["category"] == "season"
    assert by_tag[to_hashtag(first.context.campaign_name)]["description"].startswith("Campaign: ")


def test_images_are_spread_over_every_campaign(contexts: list[CampaignContext]) -> None:
    images = generate_images(SEED, contexts, 150)
    per_campaign = Counter(image.context.campaign_id for image in images)
    assert set(per_campaign) == {context.campaign_id for context in contexts}
    reused = [image for image in images if len(image.document["campaign_ids"]) > 1]
    assert reused, "some images should be reused by a second campaign of the same brand"
    assert all(image.linked[0].brand == image.context.brand for image in reused)


def test_seasons_follow_hemisphere_and_tropics() -> None:
    assert season_for("US", 12) == "winter"
    assert season_for("BR", 12) == "summer"
    assert season_for("GB", 7) == "summer"
    assert season_for("CR", 7) == "rainy_season"
    assert season_for("CO", 1) == "dry_season"


def test_places_are_coherent_with_lighting_and_seasonal_cues(images: list[content.GeneratedImage]) -> None:
    for image in images:
        kind = image.attributes.place_kind
        assert image.attributes.lighting.forms in content.LIGHTING[kind]
        cue_kinds = {cue: where for cue, where in content.SEASON_CUES[image.context.season]}
        assert cue_kinds[image.attributes.season.forms] in ("any", "out" if kind == "out" else "in")
        assert content.fits(image.attributes.action.forms, kind)
        assert content.fits(image.attributes.detail.forms, kind)


def test_paraphrase_rewords_the_same_image(images: list[content.GeneratedImage]) -> None:
    rng = np.random.default_rng(1)
    for image in images[:60]:
        description = image.document["description"]
        text = paraphrase(image, rng)
        assert text != description
        assert set(sentences(text)).isdisjoint(sentences(description))
        assert image.context.brand in text and image.context.product in text
        # Other wordings of the image's own attributes: the setting and the mood are reworded.
        assert image.attributes.setting.text not in text
        assert image.attributes.mood.text not in text
    same = [paraphrase(images[0], np.random.default_rng(7)) for _ in range(2)]
    assert same[0] == same[1]


def test_sample_contexts_cover_the_campaign_period_with_peaks() -> None:
    contexts = sample_campaign_contexts(SEED, 600)
    assert all(date(2024, 7, 1) <= c.starts_on <= date(2026, 1, 31) for c in contexts)
    months = Counter(c.starts_on.month for c in contexts)
    average = len(contexts) / 12
    assert months[12] > 1.5 * average and months[1] > 1.5 * average
    assert len({c.campaign_id for c in contexts}) == len(contexts)
    assert len({(c.brand, c.campaign_name) for c in contexts}) == len(contexts)


def test_unknown_category_audience_and_channel_fall_back_to_generic_wording() -> None:
    context = CampaignContext(
        campaign_id=9001,
        campaign_name="Harbor Spring Refresh",
        brand="Harbor Goods",
        product="Everyday bundle",
        product_category="Garden Tools",
        audience="weekend gardeners",
        channel="billboard",
        market="MX-CMX",
        starts_on=date(2025, 4, 10),
    )
    images = generate_images(3, [context], 5)
    for image in images:
        document = image.document
        assert "weekend gardeners" in document["description"]
        assert "Mexico City" in document["description"]
        assert {"#harbor_goods", "#billboard", "#garden_tools", "#weekend_gardeners", "#spring"} <= set(
            document["hashtags"]
        )
        assert (document["format"], document["width"], document["height"]) == ("jpeg", 1080, 1080)


def test_invalid_arguments_are_rejected(contexts: list[CampaignContext]) -> None:
    with pytest.raises(ValueError, match="at least one campaign context"):
        generate_images(SEED, [], 10)
    with pytest.raises(ValueError, match="positive count"):
        generate_images(SEED, contexts, 0)
