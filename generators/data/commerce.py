"""Who a campaign reached and who bought what: the links and sales that tie PromptCrm to PromptAds.

Per campaign, from its facts and plan: the CRM clients it is linked to (mostly clients of its markets), their
purchase propensity, which of them bought, and every sale - amount (the campaign's revenue split exactly in cents
over its sales count), quantity, the ad (hence channel), market and day of the PromptAds result it belongs to, and
the buyer. PromptAds' daily results count these sales per ad, market and day and sum their amounts as revenue,
and PromptCrm stores them as sales.sales, so the two stores agree to the cent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from generators.data.batches import SECONDS_PER_DAY, gumbel_top, split_integer, stream
from generators.data.layout import CampaignPlan, leads_for
from generators.data.people import ClientBase
from generators.data.reference import channels

OUTSIDE_MARKET_SHARE = 0.08
"""Share of a campaign's linked clients from outside its markets (travellers, people who moved, online buyers)."""
HOUR_WEIGHTS = np.array(
    [
        0.2,
        0.1,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        0.6,
        0.9,
        1.0,
        1.1,
        1.2,
        1.5,
        1.4,
        1.1,
        1.0,
        1.0,
        1.1,
        1.3,
        1.6,
        1.8,
        1.7,
        1.2,
        0.6,
    ]
)
LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
WON, LOST = 3, 4
OPEN_STATUS_SHARES = {"finished": (0.05, 0.2, 0.2, 0.55), "active": (0.3, 0.35, 0.2, 0.15)}
"""Share of new, contacted, qualified and lost among the leads that did not buy, by campaign status."""
LAST_LINK_MARGIN_S = 3_600
"""No link after the as-of date's last hour, so later scores and contacts still fit before the world's end."""


@dataclass(frozen=True)
class CampaignCommerce:
    """The links (sorted by client id) and sales (sorted by time) of one campaign."""

    client_id: np.ndarray
    linked_at: np.ndarray
    first_channel: np.ndarray
    """Index into the plan's channel_codes."""
    converted: np.ndarray
    propensity: np.ndarray
    """The client's chance to buy in this campaign, the purchase-intent model's target."""
    lead_status: np.ndarray
    """Index into LEAD_STATUSES, -1 without a lead."""
    sale_ad: np.ndarray
    """Index into the plan's ads."""
    sale_market: np.ndarray
    """Index into the plan's markets."""
    sale_day: np.ndarray
    """Day of the results window (0 = starts_on)."""
    sold_at: np.ndarray
    amount_cents: np.ndarray
    quantity: np.ndarray
    sale_client: np.ndarray


def _sample_pool(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    if count >= pool.size:
        return pool.copy()
    return pool[rng.choice(pool.size, size=count, replace=False)]


def _outside(
    rng: np.random.Generator, base: ClientBase, excluded_markets: np.ndarray, taken: np.ndarray, count: int
) -> np.ndarray:
    """`count` clients outside the given markets and not yet taken (from anywhere when that is not enough)."""
    chosen: list[np.ndarray] = []
    have = 0
    taken_set = np.asarray(taken)
    for attempt in range(20):
        need = count - have
        if need <= 0:
            break
        draw = rng.integers(1, base.count + 1, size=need * 3 + 16)
        if attempt < 10:
            draw = draw[~np.isin(base.market[draw - 1], excluded_markets)]
        draw = draw[~np.isin(draw, taken_set)]
        _, first = np.unique(draw, return_index=True)
        draw = draw[np.sort(first)][:need]
        chosen.append(draw)
        taken_set = np.concatenate([taken_set, draw])
        have += draw.size
    out = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    if out.size < count:
        raise ValueError(f"not enough CRM clients to link {count} more to a campaign; raise WorldScale.clients")
    return out


def campaign_commerce(
    seed: int, as_of: date, plan: CampaignPlan, base: ClientBase, pools: list[np.ndarray]
) -> CampaignCommerce:
    rng = stream(seed, "commerce", plan.campaign_id)
    facts = plan.facts
    linked_count = facts.linked_clients

    # ---- links: mostly clients of the campaign's markets, in proportion to each market's audience
    n_out = round(linked_count * OUTSIDE_MARKET_SHARE)
    per_market = split_integer(linked_count - n_out, plan.market_weight)
    picks = []
    for k, g in enumerate(plan.market_global.tolist()):
        got = _sample_pool(rng, pools[g], int(per_market[k]))
        n_out += int(per_market[k]) - got.size
        picks.append(got)
    inside = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    outside = _outside(rng, base, plan.market_global, inside, n_out)
    client_id = np.sort(np.concatenate([inside, outside]).astype(np.int64))
    n = client_id.size
    link_market = base.market[client_id - 1].astype(np.int64)

    buyers = plan.buyers
    mean = buyers / n if n else 0.0
    beta = 2.0 * (1.0 - mean) / max(mean, 0.002)
    propensity = np.clip(rng.beta(2.0, beta, n), 0.001, 0.999)

    # ---- sales: the revenue split in cents over the sales count, each on an ad, market and day of the results
    sales = facts.sales_count
    quantity = 1 + rng.binomial(plan.traits.industry.max_quantity - 1, 0.3, sales)
    weights = quantity * rng.lognormal(0.0, 0.45, sales)
    amount_cents = 1 + split_integer(facts.revenue_cents - sales, weights) if sales else np.zeros(0, dtype=np.int64)
    all_channels = channels()
    propensity_by_channel = np.array([all_channels[int(g)].traits.sales_propensity for g in plan.channel_global])
    ad_p = plan.ad_weight * propensity_by_channel[plan.ad_channel]
    sale_ad = rng.choice(plan.n_ads, size=sales, p=ad_p / ad_p.sum())
    sale_market = rng.choice(plan.n_markets, size=sales, p=plan.market_weight)
    sale_day = rng.choice(plan.n_days, size=sales, p=plan.day_weight / plan.day_weight.sum())
    hour = rng.choice(24, size=sales, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, sales)
    window_start = plan.first_day.astype("datetime64[s]")
    sold_at = window_start + (sale_day * SECONDS_PER_DAY + seconds).astype("timedelta64[s]")
    order = np.argsort(sold_at, kind="stable")
    sale_ad, sale_market, sale_day, sold_at = sale_ad[order], sale_market[order], sale_day[order], sold_at[order]
    amount_cents, quantity = amount_cents[order], quantity[order]

    # ---- buyers: each first purchase by a distinct linked client of the sale's market where there is one
    sale_client = np.zeros(sales, dtype=np.int64)
    link_of_buyer = np.zeros(0, dtype=np.int64)
    if sales:
        firsts = np.sort(rng.choice(sales, size=buyers, replace=False))
        free = np.ones(n, dtype=bool)
        chosen_links = np.full(buyers, -1, dtype=np.int64)
        first_market = plan.market_global[sale_market[firsts]]
        for g in np.unique(first_market).tolist():
            slots = np.flatnonzero(first_market == g)
            candidates = np.flatnonzero(free & (link_market == g))
            take = candidates[gumbel_top(rng, propensity[candidates], min(slots.size, candidates.size))]
            chosen_links[slots[: take.size]] = take
            free[take] = False
        short = np.flatnonzero(chosen_links < 0)
        if short.size:
            candidates = np.flatnonzero(free)
            take = candidates[gumbel_top(rng, propensity[candidates], short.size)]
            chosen_links[short] = take
            free[take] = False
        sale_client[firsts] = client_id[chosen_links]
        link_of_buyer = chosen_links
        # Repeat purchases by a buyer of the same market (any buyer when the market has none).
        repeats = np.setdiff1d(np.arange(sales), firsts)
        buyer_market = link_market[chosen_links]
        repeat_market = plan.market_global[sale_market[repeats]]
        for g in np.unique(repeat_market).tolist():
            these = repeats[repeat_market == g]
            same = np.flatnonzero(buyer_market == g)
            pool = same if same.size else np.arange(buyers)
            sale_client[these] = client_id[chosen_links[pool[rng.integers(0, pool.size, these.size)]]]

    converted = np.zeros(n, dtype=bool)
    converted[link_of_buyer] = True

    # ---- when each client was linked: a while before a buyer's first purchase, any time of the window otherwise
    as_of_end = np.datetime64(as_of, "s") + np.timedelta64(SECONDS_PER_DAY - LAST_LINK_MARGIN_S, "s")
    window_end = min(plan.last_day.astype("datetime64[s]") + np.timedelta64(SECONDS_PER_DAY, "s"), as_of_end)
    span = max(int((window_end - window_start) / np.timedelta64(1, "s")), 1)
    linked_at = window_start + rng.integers(0, span, n).astype("timedelta64[s]")
    first_channel = rng.choice(len(plan.channel_codes), size=n, p=plan.shares_e4 / 10_000)
    if sales:
        # Sales are in time order, so a buyer's first occurrence is their first purchase.
        position = np.searchsorted(client_id, sale_client)
        buyer_position, first_index = np.unique(position, return_index=True)
        first_sale_of = np.full(n, np.datetime64("NaT", "s"))
        first_ad_of = np.zeros(n, dtype=np.int64)
        first_sale_of[buyer_position] = sold_at[first_index]
        first_ad_of[buyer_position] = sale_ad[first_index]
        b = link_of_buyer
        lead_s = rng.integers(3_600, 7 * SECONDS_PER_DAY, b.size).astype("timedelta64[s]")
        linked_at[b] = np.maximum(first_sale_of[b] - lead_s, window_start)
        linked_at[b] = np.minimum(linked_at[b], first_sale_of[b])
        first_channel[b] = plan.ad_channel[first_ad_of[b]]
    linked_at = np.minimum(linked_at, as_of_end)

    # ---- leads: every buyer won one; a quarter of the others opened one, likelier the keener they were
    lead_status = np.full(n, -1, dtype=np.int8)
    lead_status[converted] = WON
    others = np.flatnonzero(~converted)
    n_open = leads_for(n, buyers) - buyers
    if n_open:
        with_lead = others[gumbel_top(rng, propensity[others] + 0.05, n_open)]
        counts = split_integer(n_open, OPEN_STATUS_SHARES[facts.status])
        statuses = np.repeat(np.array([0, 1, 2, LOST], dtype=np.int8), counts)
        lead_status[with_lead] = statuses[rng.permutation(n_open)]
    return CampaignCommerce(
        client_id=client_id,
        linked_at=linked_at,
        first_channel=first_channel.astype(np.int64),
        converted=converted,
        propensity=propensity,
        lead_status=lead_status,
        sale_ad=sale_ad.astype(np.int64),
        sale_market=sale_market.astype(np.int64),
        sale_day=sale_day.astype(np.int64),
        sold_at=sold_at,
        amount_cents=amount_cents.astype(np.int64),
        quantity=quantity.astype(np.int32),
        sale_client=sale_client,
    )
