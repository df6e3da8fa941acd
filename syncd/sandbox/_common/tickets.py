"""Deterministic, realistic Cogny growth tickets for the sandbox, the demo and the tests.

Tickets come out exactly as `GET /v1/tickets/{id}` returns them (the full form, with `notes`
and `assignee`), so a test can hand them to `CognySandbox` or compare them with API answers.
The same `seed` always gives the same tickets; every category and priority shows up once
`n` is large enough (8 and 4), so syncd's mappings get exercised without luck.
"""

from __future__ import annotations

import copy
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

CATEGORIES = (
    "conversion_optimization", "funnel_optimization", "user_engagement", "revenue_growth",
    "retention", "acquisition", "technical_performance", "data_quality",
)
PRIORITIES = ("critical", "high", "medium", "low")
STATUSES = ("open", "in_progress", "completed", "dismissed")
EFFORTS = ("small", "medium", "large")
DEFAULT_START = datetime(2025, 1, 6, 9, 0, 0, tzinfo=timezone.utc)

# Real recommendation streams are mostly medium/high with a few critical ones.
_PRIORITY_WEIGHTS = (0.1, 0.3, 0.4, 0.2)


@dataclass(frozen=True)
class _Category:
    """What tickets of one category look like: the metric they move, titles, action items, data."""

    metric: str
    current: tuple[float, float]  # range of the metric's current value
    decimals: int
    # (title, description, indexes into `actions` that fit it); templates over `_vocabulary`
    titles: tuple[tuple[str, str, tuple[int, ...]], ...]
    actions: tuple[tuple[str, str, int], ...]  # (title, description, estimated hours)
    data: tuple[tuple[str, float, float, int], ...]  # supporting_data (key, low, high, decimals)


_SPECS: dict[str, _Category] = {
    "conversion_optimization": _Category(
        "conversion_rate", (0.012, 0.048), 4,
        (("Optimize {device} Checkout Flow", "{device} users abandon cart at {ratio}x the desktop rate. "
          "Cart abandonment peaks at the payment step ({pct}%).", (0, 1, 4, 5)),
         ("Add Trust Signals to the {page} Page", "Visitors convert {pct}% less often on the {page_l} page "
          "when no reviews or security badges show above the fold.", (2, 5, 3)),
         ("Test a Sticky Add-to-Cart Button on {device}", "Only {pct}% of {device_l} sessions scroll back "
          "up to the add-to-cart button after reading product details.", (3, 2)),
         ("Reduce Form Fields on the {page} Page", "The {page_l} form asks for {fields} fields; each extra "
          "field costs about {small_pct}% of submissions.", (1, 4, 3))),
        (("Implement one-click checkout for returning users", "Add Apple Pay and Google Pay integration", 16),
         ("Reduce form fields from 12 to 6", "Remove redundant fields and auto-fill where possible", 8),
         ("Show review stars near the primary call-to-action", "Pull ratings from the reviews service", 6),
         ("A/B test the new layout against control", "Run for two full weeks at 50/50 traffic", 4),
         ("Add address autocomplete", "Use the Places API on shipping and billing forms", 10),
         ("Display security badges at payment", "Show PCI and SSL badges beside the card form", 3)),
        (("mobile_conversion_rate", 0.01, 0.03, 3), ("desktop_conversion_rate", 0.03, 0.05, 3),
         ("cart_abandonment_rate", 0.3, 0.8, 2), ("sample_size", 5000, 90000, 0))),
    "funnel_optimization": _Category(
        "funnel_completion_rate", (0.18, 0.62), 3,
        (("Reduce Drop-off Between {step_a} and {step_b}", "{pct}% of users who reach {step_a_l} never "
          "reach {step_b_l}; the median gap between the steps is {minutes} minutes.", (1, 2, 3, 4)),
         ("Fix Onboarding Step {n} Abandonment", "Step {n} of onboarding loses {pct}% of new signups, "
          "three times the loss of any other step.", (5, 2, 4)),
         ("Streamline the {device} Signup Funnel", "{device} signups take {minutes} minutes on median and "
          "{pct}% stop before verifying their email.", (5, 3, 2)),
         ("Remove Forced Account Creation Before Checkout", "{pct}% of first-time buyers leave at the "
          "account creation wall.", (0, 4))),
        (("Offer guest checkout", "Let buyers create an account after the order is placed", 12),
         ("Merge shipping and payment steps", "Collapse two pages into one with inline validation", 20),
         ("Add progress indicator to the funnel", "Show step N of M at the top of every step", 4),
         ("Send abandoned-step reminder emails", "Trigger one hour after a user stalls mid-funnel", 8),
         ("Instrument step timing events", "Track time-on-step to locate friction precisely", 5),
         ("Defer optional profile questions", "Ask them after the first successful session", 6)),
        (("step_entry_count", 2000, 60000, 0), ("step_exit_rate", 0.2, 0.7, 2),
         ("median_minutes_in_step", 1, 25, 1), ("sample_size", 5000, 90000, 0))),
    "user_engagement": _Category(
        "sessions_per_user", (1.4, 6.5), 2,
        (("Launch a Weekly Digest Email for Dormant Users", "{pct}% of accounts have not opened the app in "
          "{days} days but still open our emails.", (0, 4)),
         ("Surface {feature} During the First Session", "Users who try {feature_l} in their first session "
          "are {ratio}x as engaged after 30 days, yet only {pct}% discover it.", (1, 5, 4)),
         ("Personalize the Home Feed for Returning Visitors", "Returning visitors see the same default "
          "feed as new ones and bounce {pct}% more often.", (2, 4)),
         ("Add In-App Prompts After {feature} Setup", "Engagement drops {pct}% in the week after users "
          "finish setting up {feature_l}.", (5, 3, 1))),
        (("Design the digest template", "Top three items plus one personalized tip", 6),
         ("Build the feature discovery tooltip", "Show once, dismissible, tracked per user", 8),
         ("Rank feed items by recent activity", "Use the last 14 days of interactions", 24),
         ("Add push notification opt-in prompt", "Ask after the second meaningful action", 5),
         ("Create engagement cohort dashboard", "Weekly cohorts by first-week actions", 10),
         ("Write copy for contextual prompts", "Five variants for the experiment", 3)),
        (("daily_active_users", 800, 40000, 0), ("weekly_active_users", 3000, 120000, 0),
         ("avg_session_minutes", 1.5, 14, 1), ("sample_size", 5000, 90000, 0))),
    "revenue_growth": _Category(
        "average_order_value", (32.0, 185.0), 2,
        (("Introduce Product Bundles for Top Categories", "{pct}% of orders in the top three categories "
          "already contain two items that are often bought together.", (0, 1, 5)),
         ("Add Cross-Sell Recommendations at Checkout", "Only {small_pct}% of orders include an accessory "
          "although {pct}% of buyers view one.", (1, 5)),
         ("Test an Annual Billing Discount on the Pricing Page", "{pct}% of monthly subscribers stay longer "
          "than a year; an annual plan would lock in that revenue.", (2, 4, 5)),
         ("Raise the Free Shipping Threshold to ${threshold}", "{pct}% of orders land just under the current "
          "threshold; nudging it up lifts order value.", (3, 5))),
        (("Pick bundle candidates from co-purchase data", "Top 20 pairs by lift", 6),
         ("Build the recommendation widget", "Three items, priced below the cart average", 16),
         ("Add annual plan to billing system", "Two months free, prorated upgrades", 20),
         ("Update shipping threshold messaging", "Show the remaining amount in the cart", 4),
         ("Run a pricing page experiment", "Annual toggle default on versus off", 6),
         ("Report revenue per visitor by variant", "Daily export to the finance dashboard", 5)),
        (("monthly_revenue", 20000, 900000, 0), ("orders_per_month", 400, 30000, 0),
         ("repeat_purchase_rate", 0.1, 0.45, 2), ("sample_size", 5000, 90000, 0))),
    "retention": _Category(
        "retention_rate", (0.14, 0.56), 3,
        (("Win Back Customers Inactive for {days}+ Days", "{pct}% of churned customers were active weekly "
          "before going quiet for {days} days.", (0, 1)),
         ("Fix the Churn Spike After the First Billing Cycle", "Cancellations jump {ratio}x in the week "
          "after the first invoice.", (2, 4, 5)),
         ("Launch an Onboarding Email Sequence for New Signups", "Users who get no email in week one "
          "churn {pct}% more within 30 days.", (6, 3)),
         ("Add Usage Milestones to Reduce Early Churn", "Accounts reaching {n} key actions in week one "
          "retain {ratio}x better.", (3, 6))),
        (("Segment customers by inactivity window", "7, 30 and 90 day buckets", 4),
         ("Write the win-back email series", "Three emails over ten days with one offer", 6),
         ("Send a pre-billing value summary", "Email usage highlights two days before invoicing", 8),
         ("Build milestone tracker in the app", "Checklist of the first five key actions", 18),
         ("Add a cancellation survey", "Single question with free text, required before cancel", 5),
         ("Offer pause instead of cancel", "Let subscribers pause for up to three months", 12),
         ("Write the week-one onboarding emails", "Five emails triggered by the first actions taken", 8)),
        (("cohort_size", 500, 25000, 0), ("day_7_retention", 0.3, 0.7, 2),
         ("day_30_retention", 0.12, 0.5, 2), ("sample_size", 5000, 90000, 0))),
    "acquisition": _Category(
        "signup_rate", (0.008, 0.075), 4,
        (("Reallocate Budget from {channel} to {channel2}", "{channel} customer acquisition cost is {ratio}x "
          "that of {channel2} while retaining {pct}% fewer customers.", (0, 4)),
         ("Improve Landing Page Relevance for {channel} Campaigns", "{channel} visitors bounce {pct}% more "
          "often than the site average on generic landing pages.", (1, 4)),
         ("Launch a Referral Program for Active Customers", "{pct}% of new customers say a friend "
          "recommended us, but there is no way to reward it.", (2, 5)),
         ("Target Lookalike Audiences of High-LTV Customers", "The top decile of customers by lifetime value "
          "came mostly from {channel}.", (3, 4))),
        (("Shift 20% of budget in two steps", "Move spend weekly and watch blended CAC", 4),
         ("Build campaign-specific landing pages", "One page per top ad group", 16),
         ("Implement referral credit logic", "Give-get credit applied after the first purchase", 20),
         ("Export high-LTV seed audience", "Hash emails and upload to ad platforms", 3),
         ("Set up channel attribution report", "Last-touch and first-touch side by side", 8),
         ("Add referral share links to the account page", "Prefilled email and copy-link options", 6)),
        (("monthly_visitors", 10000, 600000, 0), ("blended_cac", 18, 240, 2),
         ("paid_share_of_signups", 0.2, 0.8, 2), ("sample_size", 5000, 90000, 0))),
    "technical_performance": _Category(
        "core_web_vitals_pass_rate", (0.28, 0.78), 3,
        (("Reduce {page} Page Load Time on {device}", "Largest Contentful Paint on the {page_l} page is "
          "{seconds}s on {device_l}; sessions slower than 3s convert {pct}% worse.", (0, 1, 4, 5)),
         ("Fix JavaScript Errors Blocking Checkout on {browser}",
          "{small_pct}% of {browser} checkout sessions "
          "hit an uncaught error before the payment form renders.", (2, 6)),
         ("Compress and Lazy-Load Product Images", "Images make up {pct}% of page weight on product pages.",
          (0, 4, 5)),
         ("Cut API Latency on Search Results", "Search responses take {seconds}s at the 95th percentile and "
          "{pct}% of searchers leave before results load.", (3, 5))),
        (("Serve images in AVIF and WebP", "Fall back to JPEG for old browsers", 8),
         ("Defer third-party scripts", "Load tag manager after first interaction", 6),
         ("Add error monitoring to checkout", "Capture stack traces with release tags", 4),
         ("Cache search results at the edge", "Five-minute TTL keyed by normalized query", 14),
         ("Preload the hero image", "Add fetchpriority=high and preconnect hints", 2),
         ("Set performance budget in CI", "Fail builds that add more than 50 KB of JavaScript", 6),
         ("Reproduce the errors on real devices", "Use the device lab for the top three failing versions",
          6)),
        (("lcp_seconds_p75", 1.8, 6.5, 1), ("js_error_rate", 0.001, 0.05, 3),
         ("page_weight_kb", 900, 6000, 0), ("sample_size", 5000, 90000, 0))),
    "data_quality": _Category(
        "tracked_events_coverage", (0.48, 0.9), 3,
        (("Fix Duplicate Purchase Events in Analytics", "{small_pct}% of purchases are tracked twice, which "
          "inflates reported revenue.", (0, 4)),
         ("Add Missing UTM Parameters to {channel} Campaigns", "{pct}% of {channel} sessions arrive without "
          "campaign parameters and are attributed to direct traffic.", (1, 5)),
         ("Deduplicate User Identities Across Devices", "{pct}% of signed-in users appear as two or more "
          "profiles in the warehouse.", (2, 4)),
         ("Backfill Missing Revenue on Refunded Orders", "Refunds from the last {days} days are missing from "
          "the revenue table.", (3, 4))),
        (("Add an idempotency key to purchase events", "Use the order id as the event id", 4),
         ("Enforce UTM templates in the ad platforms", "Shared template with required fields", 3),
         ("Stitch identities on login", "Merge anonymous and known profiles", 12),
         ("Write the refund backfill job", "Idempotent, runs per day partition", 8),
         ("Add data quality checks to the pipeline", "Row counts and null rates with alerts", 10),
         ("Document the tracking plan", "Event names, properties and owners", 5)),
        (("events_per_day", 50000, 4000000, 0), ("duplicate_event_rate", 0.005, 0.08, 3),
         ("untagged_session_rate", 0.05, 0.4, 2), ("sample_size", 5000, 90000, 0))),
}

# Steps any recommendation may carry besides its specific ones.
_GENERIC_ACTIONS = (
    ("Define the success metric and guardrails",
     "Agree on the primary metric and the ones that must not drop", 2),
    ("Review results with the growth team", "Decide to roll out, iterate or revert after two weeks", 2),
)
_DEVICES = ("Mobile", "Desktop", "Tablet")
_PAGES = ("Pricing", "Product Detail", "Landing", "Cart", "Homepage")
_STEPS = (("Cart", "Shipping"), ("Shipping", "Payment"), ("Signup", "Email Verification"),
          ("Trial Start", "First Project"))
_FEATURES = ("Saved Searches", "Team Invites", "Wishlists", "Dashboards")
_CHANNELS = ("Paid Search", "Paid Social", "Display", "Affiliate", "Email", "Organic Search")
_BROWSERS = ("Safari", "Firefox", "Samsung Internet")
_NOTES = (
    "Discussed in the weekly growth sync; revisit after the pricing change ships.",
    "Design has mocks for this in the Q2 folder.",
    "Blocked on analytics access for the mobile team.",
)


def _vocabulary(rng: random.Random) -> dict[str, Any]:
    """Values for every placeholder a title or description template may use."""
    device, page = rng.choice(_DEVICES), rng.choice(_PAGES)
    step_a, step_b = rng.choice(_STEPS)
    feature = rng.choice(_FEATURES)
    channel, channel2 = rng.sample(_CHANNELS, 2)
    return {
        "device": device, "device_l": device.lower(), "page": page, "page_l": page.lower(),
        "step_a": step_a, "step_b": step_b, "step_a_l": step_a.lower(), "step_b_l": step_b.lower(),
        "feature": feature, "feature_l": feature.lower(), "channel": channel, "channel2": channel2,
        "browser": rng.choice(_BROWSERS), "pct": rng.randint(12, 64), "small_pct": rng.randint(2, 9),
        "ratio": round(rng.uniform(1.6, 3.4), 1), "n": rng.randint(3, 9),
        "days": rng.choice((14, 30, 60, 90)),
        "minutes": rng.randint(3, 40), "seconds": round(rng.uniform(2.6, 7.5), 1),
        "threshold": rng.choice((50, 60, 75, 100)), "fields": rng.randint(8, 16),
    }


def _hex_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    """`prefix` + 8 lowercase hex chars, never one already in `taken`."""
    while True:
        candidate = f"{prefix}{rng.getrandbits(32):08x}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def iso(moment: datetime) -> str:
    """The API's timestamp form: UTC, whole seconds, `Z` suffix."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _impact(rng: random.Random, spec: _Category) -> dict[str, Any]:
    """estimated_impact whose increase_percentage agrees with its (rounded) values."""
    current = round(rng.uniform(*spec.current), spec.decimals)
    projected = round(current * (1 + rng.uniform(0.05, 0.45)), spec.decimals)
    if projected <= current:  # rounding can swallow a small uplift on small values
        projected = round(current + 10 ** -spec.decimals, spec.decimals)
    return {
        "metric": spec.metric,
        "current_value": current,
        "projected_value": projected,
        "increase_percentage": round((projected - current) / current * 100, 1),
        "confidence": round(rng.uniform(0.55, 0.95), 2),
    }


def _supporting_data(rng: random.Random, spec: _Category) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, low, high, decimals in spec.data:
        value = round(rng.uniform(low, high), decimals)
        data[key] = int(value) if decimals == 0 else value
    return data


def _action_items(rng: random.Random, spec: _Category, fits: tuple[int, ...]) -> list[dict[str, Any]]:
    """0-5 distinct action items that fit the title: syncd keys subtasks by title, so none repeat."""
    pool = [spec.actions[i] for i in fits] + list(_GENERIC_ACTIONS)
    count = min(len(pool), rng.choices(range(6), weights=(1, 2, 4, 4, 2, 1))[0])
    return [{"title": title, "description": description, "estimated_hours": hours, "completed": False}
            for title, description, hours in rng.sample(pool, count)]


def _spread(rng: random.Random, values: Sequence[str], n: int, weights: Sequence[float] | None) -> list[str]:
    """n values with each of `values` present at least once (when n allows), in shuffled order."""
    head = list(values)[:n]
    tail = rng.choices(values, weights=weights, k=max(0, n - len(head)))
    out = head + tail
    rng.shuffle(out)
    return out


def generate_tickets(
    n: int,
    *,
    seed: int = 0,
    warehouses: Sequence[str] = ("wh_123abc",),
    app_url: str = "https://app.cogny.com",
    start: datetime | None = None,
) -> list[dict[str, Any]]:
    """`n` open tickets, oldest first, as `GET /v1/tickets/{id}` returns them; same seed, same tickets."""
    rng = random.Random(seed)
    categories = _spread(rng, CATEGORIES, n, None)
    priorities = _spread(rng, PRIORITIES, n, _PRIORITY_WEIGHTS)
    moment = (start or DEFAULT_START).astimezone(timezone.utc)
    taken: set[str] = set()
    tickets = []
    for category, priority in zip(categories, priorities):
        moment += timedelta(minutes=rng.randint(7, 600))
        tickets.append(_ticket(rng, category, priority, moment, warehouses, app_url, taken))
    return tickets


def _ticket(rng: random.Random, category: str, priority: str, created: datetime,
            warehouses: Sequence[str], app_url: str, taken: set[str]) -> dict[str, Any]:
    spec = _SPECS[category]
    title, description, fits = rng.choice(spec.titles)
    words = _vocabulary(rng)
    ticket_id = _hex_id(rng, "tkt_", taken)
    # A few tickets were touched by a person after generation: they carry notes and a later updated_at.
    touched = rng.random() < 0.15
    updated = created + timedelta(hours=rng.randint(1, 72)) if touched else created
    return {
        "id": ticket_id,
        "warehouse_id": rng.choice(list(warehouses)),
        "title": title.format(**words),
        "description": description.format(**words),
        "category": category,
        "priority": priority,
        "status": "open",
        "estimated_impact": _impact(rng, spec),
        "effort": rng.choice(EFFORTS),
        "action_items": _action_items(rng, spec, fits),
        "supporting_data": _supporting_data(rng, spec),
        "related_report_id": _hex_id(rng, "rpt_", taken),
        "assignee": None,
        "notes": rng.choice(_NOTES) if touched else "",
        "created_at": iso(created),
        "updated_at": iso(updated),
        "url": f"{app_url}/tickets/{ticket_id}",
    }


_make_counter = itertools.count(1)

_DOCS_EXAMPLE: dict[str, Any] = {
    "warehouse_id": "wh_123abc",
    "title": "Optimize Mobile Checkout Flow",
    "description": "Mobile users abandon cart at 2x desktop rate. "
                   "Cart abandonment peaks at payment step (41%).",
    "category": "conversion_optimization",
    "priority": "high",
    "status": "open",
    "estimated_impact": {"metric": "conversion_rate", "current_value": 0.027, "projected_value": 0.034,
                         "increase_percentage": 25.9, "confidence": 0.85},
    "effort": "medium",
    "action_items": [
        {"title": "Implement one-click checkout for returning users",
         "description": "Add Apple Pay and Google Pay integration", "estimated_hours": 16,
         "completed": False},
        {"title": "Reduce form fields from 12 to 6",
         "description": "Remove redundant fields and auto-fill where possible", "estimated_hours": 8,
         "completed": False},
    ],
    "supporting_data": {"mobile_conversion_rate": 0.027, "desktop_conversion_rate": 0.035,
                        "cart_abandonment_rate": 0.41, "sample_size": 45000},
    "related_report_id": "rpt_xyz789",
    "assignee": None,
    "notes": "",
    "created_at": "2025-02-07T10:30:00Z",
    "updated_at": "2025-02-07T10:30:00Z",
}


def make_ticket(app_url: str = "https://app.cogny.com", **overrides: Any) -> dict[str, Any]:
    """The docs' example ticket with a fresh unique id (and matching url), then `overrides` applied.

    Known titles and values make assertions easy; the id differs per call so several fit one sandbox.
    """
    # Knuth's multiplicative hash is a bijection on 32 bits: unique, yet realistic-looking ids.
    ticket_id = overrides.get("id") or f"tkt_{(next(_make_counter) * 2654435761) % 2**32:08x}"
    ticket = {"id": ticket_id, **copy.deepcopy(_DOCS_EXAMPLE), "url": f"{app_url}/tickets/{ticket_id}"}
    ticket.update(copy.deepcopy(overrides))
    return ticket
