"""generators.concurrency_crm on a real PromptCrm: every T-SQL pair, unsafe vs fixed, judged by the module itself.

Skipped (with the reason) when PROMPTSALES_CRM_URL is not set; tests/sql/test_concurrency_pg.py is the
PostgreSQL side of the same harness.
"""

from __future__ import annotations

from typing import Any

import pytest

from generators import concurrency_crm as cc


@pytest.mark.parametrize("variant", cc.VARIANTS)
@pytest.mark.parametrize("name", list(cc.SCENARIOS))
def test_each_crm_pair_shows_the_anomaly_only_in_the_unsafe_procedure(
    crm_deployment: Any, crm_url: str, name: str, variant: str
) -> None:
    outcome = cc.run_one(crm_url, name, variant)

    assert outcome.proved, outcome.report()
    assert outcome.anomaly == (variant == "Unsafe"), outcome.report()
    if name == "cascading deadlock":
        if variant == "Unsafe":
            assert outcome.result.victims == ["c->a"]  # SET DEADLOCK_PRIORITY LOW
            assert outcome.result.committed == ["a->b", "b->c"]
        else:
            assert outcome.result.victims == [] and len(outcome.result.committed) == 3
