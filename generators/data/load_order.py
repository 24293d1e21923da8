"""Load orders that must stay importable without numpy: the seed DAG's structure is built from them at parse time."""

from __future__ import annotations

PORTAL_TABLES = (
    "portal.companies",
    "portal.users",
    "portal.user_roles",
    "portal.oauth_identities",
    "portal.oauth_tokens",
    "portal.subscriptions",
    "portal.products",
    "portal.contacts",
    "portal.sales_objectives",
    "portal.strategies",
    "portal.strategy_audiences",
    "portal.strategy_countries",
    "portal.strategy_products",
    "portal.budgets",
    "portal.campaigns",
    "ai.usage_log",
    "portal.ai_approvals",
    "portal.tasks",
    "portal.task_reminders",
    "portal.alerts",
    "portal.integrations",
    "privacy.consents",
)
"""Every generated PromptSales table, in foreign-key load order (ai.usage_log comes before the approvals that
reference it)."""
