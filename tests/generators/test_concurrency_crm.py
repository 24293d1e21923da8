"""The PromptCrm concurrency scenarios without a SQL Server: every step names a procedure and parameters that the
rendered T-SQL declares, and the judge reads the final data the scenarios' queries return.

The scenarios themselves run against a real PromptCrm in tests/integration/test_crm_concurrency_harness.py.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from generators import concurrency_crm as cc

ROLES = (
    "lost_update",
    "dirty_read",
    "summary_stays",
    "summary_second",
    "summary_moves",
    "transfer_a",
    "transfer_b",
    "transfer_c",
)
DEMO = cc.DemoRows(
    client_id=7,
    sale_ids={role: 100 + k for k, role in enumerate(ROLES)},
    campaign_ids={role: 10 + k for k, role in enumerate(ROLES)},
    quantities={role: 1 for role in ROLES},
    amounts={role: Decimal("100.00") for role in ROLES},
)


@pytest.mark.parametrize("variant", cc.VARIANTS)
@pytest.mark.parametrize("name", list(cc.SCENARIOS))
def test_every_scenario_calls_procedures_the_rendered_tsql_declares(name: str, variant: str) -> None:
    scenario = cc.SCENARIOS[name](DEMO, variant)  # exec_sql raises on an unknown procedure or parameter
    procedures = cc.procedure_parameters()
    for session in scenario.sessions:
        for step in session.steps:
            if step.kind == "execute" and "EXEC " in step.sql:
                called = step.sql.split("EXEC ", 1)[1].split()[0]
                assert called in procedures, called
    assert scenario.final_params and all(isinstance(p, int) for p in scenario.final_params)


def test_an_unknown_parameter_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(KeyError, match=r"ops\.CRMSP_AddSaleUnitsUnsafe declares no @Units"):
        cc.exec_sql("ops.CRMSP_AddSaleUnitsUnsafe", SaleId=1, Units=2)
    with pytest.raises(KeyError, match=r"creates no procedure ops\.CRMSP_Nope"):
        cc.exec_sql("ops.CRMSP_Nope")


def result(final: list[dict[str, Any]], report_row: dict[str, Any]) -> Any:
    """What judge reads of a ScenarioResult: the final rows and the report session's last row."""
    session = SimpleNamespace(last_row=lambda: report_row)
    return SimpleNamespace(final=final, session=lambda _name: session, committed=[], victims=[])


def test_the_incorrect_summary_is_judged_against_both_campaigns_together() -> None:
    final = [  # the scenario's final query: one row per campaign
        {"campaign_id": 12, "sales_usd": Decimal("150.00")},
        {"campaign_id": 13, "sales_usd": Decimal("250.00")},
    ]
    consistent = cc.judge("incorrect summary", "Fixed", DEMO, result(final, {"combined_usd": Decimal("400.00")}))
    assert consistent.proved and not consistent.anomaly
    torn = cc.judge("incorrect summary", "Unsafe", DEMO, result(final, {"combined_usd": Decimal("450.00")}))
    assert torn.proved and torn.anomaly


def test_a_dirty_read_is_a_total_that_was_never_committed() -> None:
    final = [{"sales_count": 2, "sales_usd": Decimal("200.00")}]
    dirty = cc.judge("dirty read", "Unsafe", DEMO, result(final, {"total_usd": Decimal("5200.00")}))
    assert dirty.proved and dirty.anomaly
    clean = cc.judge("dirty read", "Fixed", DEMO, result(final, {"total_usd": Decimal("200.00")}))
    assert clean.proved and not clean.anomaly
