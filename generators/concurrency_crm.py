"""The PromptCrm concurrency procedures (T-SQL, unsafe vs fixed) driven by the same harness as the PostgreSQL ones.

    PROMPTSALES_CRM_URL=mssql://user:password@host:1433/PromptCrm python -m generators.concurrency_crm

Each anomaly of docs/crm-concurrency.md runs from concurrent sessions through generators.scenarios (engine
SQLSERVER: @@SPID, sys.dm_exec_requests for the lock waits, error 1205, also when a procedure re-raised it under
its own number): the lost update (ops.CRMSP_AddSaleUnits*), the dirty read (ops.CRMSP_RecordSale against
ops.CRMSP_GetCampaignSales*), the incorrect summary (ops.CRMSP_SummarizeCampaignSales* against
ops.CRMSP_ReattributeSale) and the cascading deadlock of three (ops.CRMSP_TransferSaleAmount*). Before each run
the demo rows are put back to their starting values by sql/crm/scripts/ops_02_concurrency_demo_setup.sql, whose
first result set lists them (role, sale_id, campaign_id, quantity, amount_usd).

The procedures pause (@PauseSeconds, a WAITFOR DELAY inside their transaction) where the race happens; the second
session starts LAG seconds into that pause. Connections come from generators.ads_client.connect (pytds), one per
session, autocommit (the procedures run their own transactions). Exit status 1 when a pair did not prove its point.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from generators import scenarios as sc

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "PROMPTSALES_CRM_URL"
SETUP_SCRIPT = "sql/crm/scripts/ops_02_concurrency_demo_setup.sql"
FUNCTIONS_FILE = "sql/crm/050_functions.sql"
DEMO_COLUMNS = ("role", "sale_id", "campaign_id", "quantity", "amount_usd")
PAUSE_SECONDS = 3
"""The procedures' @PauseSeconds: the race window; the second session starts LAG seconds into it."""
LAG = 1.0
VARIANTS = ("Unsafe", "Fixed")


def connector(url: str) -> Callable[[], Any]:
    from generators import ads_client

    return lambda: ads_client.connect(url, autocommit=True)


@functools.cache
def procedure_parameters(rel: str = FUNCTIONS_FILE) -> dict[str, tuple[str, ...]]:
    """schema.procedure -> its parameter names, read from the rendered CREATE OR ALTER PROCEDURE headers."""
    text = (ROOT / rel).read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^CREATE OR ALTER PROCEDURE (\w+\.\w+)\n((?:    @\w+ [^\n]*\n)*)", text, re.MULTILINE):
        found[match[1]] = tuple(re.findall(r"^    (@\w+) ", match[2], re.MULTILINE))
    return found


def exec_sql(procedure: str, **params: Any) -> tuple[str, tuple[Any, ...]]:
    """`EXEC procedure @Name = %s, ...` and its values; refuses names 050_functions.sql does not declare."""
    known = procedure_parameters()
    if procedure not in known:
        raise KeyError(f"{FUNCTIONS_FILE} creates no procedure {procedure} (it has: {', '.join(sorted(known))})")
    unknown = [f"@{name}" for name in params if f"@{name}" not in known[procedure]]
    if unknown:
        raise KeyError(f"{procedure} declares no {', '.join(unknown)} (it has: {', '.join(known[procedure])})")
    assignments = ", ".join(f"@{name} = %s" for name in params)
    return f"SET NOCOUNT ON; EXEC {procedure} {assignments};", tuple(params.values())


def exec_step(procedure: str, *, label: str | None = None, **params: Any) -> sc.Step:
    """One harness step that runs `procedure` with named parameters (checked against the rendered T-SQL)."""
    sql, values = exec_sql(procedure, **params)
    return sc.execute(sql, values, label=label or f"EXEC {procedure}")


@dataclass(frozen=True)
class DemoRows:
    """The rows ops_02_concurrency_demo_setup creates, as its first result set lists them (role -> sale)."""

    client_id: int
    sale_ids: Mapping[str, int]
    campaign_ids: Mapping[str, int]
    quantities: Mapping[str, int]
    amounts: Mapping[str, Decimal]


def demo_table(results: Sequence[Any]) -> list[tuple[Any, ...]] | None:
    """The setup script's (role, sale_id, campaign_id, quantity, amount_usd) result set, or None."""
    for result in results:
        for columns, rows in result.result_sets:
            if tuple(c.lower() for c in columns[: len(DEMO_COLUMNS)]) == DEMO_COLUMNS:
                return list(rows)
    return None


def reset_demo_rows(conn: Any) -> DemoRows:
    """Run the setup script (it creates the demo rows or puts them back) and read what it lists."""
    from generators.tsql_script import run_script

    table = demo_table(run_script(conn, (ROOT / SETUP_SCRIPT).read_text(encoding="utf-8"), SETUP_SCRIPT))
    if not table:
        raise RuntimeError(f"{SETUP_SCRIPT} returned no ({', '.join(DEMO_COLUMNS)}) result set")
    sale_ids = {str(r[0]): int(r[1]) for r in table}
    # The buyer of the demo sales is the demo client; the script lists sales, so ask one of them who bought it.
    cur = conn.cursor()
    try:
        cur.execute("SELECT client_id FROM sales.sales WHERE sale_id = %s", (sale_ids["dirty_read"],))
        client_id = int(cur.fetchone()[0])
    finally:
        cur.close()
    return DemoRows(
        client_id,
        sale_ids,
        {str(r[0]): int(r[2]) for r in table},
        {str(r[0]): int(r[3]) for r in table},
        {str(r[0]): Decimal(r[4]) for r in table},
    )


# --------------------------------------------------------------------------- scenarios


def lost_update(demo: DemoRows, variant: str) -> sc.Scenario:
    procedure = f"ops.CRMSP_AddSaleUnits{variant}"
    sale = demo.sale_ids["lost_update"]
    return sc.Scenario(
        f"lost update ({variant.lower()})",
        sessions=[
            sc.Session(
                "agent 1",
                [
                    sc.barrier("start"),
                    exec_step(
                        procedure,
                        label="add 2 units",
                        SaleId=sale,
                        AddedUnits=2,
                        AddedAmountUsd=Decimal("20.00"),
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
            sc.Session(
                "agent 2",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(
                        procedure,
                        label="add 3 units",
                        SaleId=sale,
                        AddedUnits=3,
                        AddedAmountUsd=Decimal("30.00"),
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
        ],
        final_query="SELECT quantity, amount_usd FROM sales.sales WHERE sale_id = %s",
        final_params=(sale,),
    )


DIRTY_AMOUNT = Decimal("5000.00")


def dirty_read(demo: DemoRows, variant: str) -> sc.Scenario:
    campaign = demo.campaign_ids["dirty_read"]
    return sc.Scenario(
        f"dirty read ({variant.lower()})",
        sessions=[
            sc.Session(
                "writer",
                [
                    sc.barrier("start"),
                    exec_step(
                        "ops.CRMSP_RecordSale",
                        label="record a sale, then decline it",
                        ClientId=demo.client_id,
                        CampaignId=campaign,
                        ChannelCode="email",
                        AmountUsd=DIRTY_AMOUNT,
                        PauseSeconds=PAUSE_SECONDS,
                        PaymentDeclined=True,
                    ),
                ],
            ),
            sc.Session(
                "report",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(f"ops.CRMSP_GetCampaignSales{variant}", label="read the total", CampaignId=campaign),
                ],
            ),
        ],
        final_query="SELECT COUNT(*) AS sales_count, SUM(amount_usd) AS sales_usd FROM sales.sales"
        " WHERE campaign_id = %s",
        final_params=(campaign,),
    )


def incorrect_summary(demo: DemoRows, variant: str) -> sc.Scenario:
    first, second = demo.campaign_ids["summary_stays"], demo.campaign_ids["summary_second"]
    return sc.Scenario(
        f"incorrect summary ({variant.lower()})",
        sessions=[
            sc.Session(
                "report",
                [
                    sc.barrier("start"),
                    exec_step(
                        f"ops.CRMSP_SummarizeCampaignSales{variant}",
                        label="sum both campaigns",
                        FirstCampaignId=first,
                        SecondCampaignId=second,
                        PauseSeconds=PAUSE_SECONDS,
                    ),
                ],
            ),
            sc.Session(
                "correction",
                [
                    sc.barrier("start"),
                    sc.pause(LAG),
                    exec_step(
                        "ops.CRMSP_ReattributeSale",
                        label="move the 50.00 sale",
                        SaleId=demo.sale_ids["summary_moves"],
                        ToCampaignId=second,
                    ),
                ],
            ),
        ],
        final_query="SELECT campaign_id, SUM(amount_usd) AS sales_usd FROM sales.sales WHERE campaign_id IN (%s, %s)"
        " GROUP BY campaign_id ORDER BY campaign_id",
        final_params=(first, second),
    )


TRANSFER_AMOUNT = Decimal("10.00")
TRANSFERS = (
    ("a->b", "transfer_a", "transfer_b"),
    ("b->c", "transfer_b", "transfer_c"),
    ("c->a", "transfer_c", "transfer_a"),
)
"""The three transfers of the cascade, as the setup script's commands run them; c->a has LOW deadlock priority."""


def cascading_deadlock(demo: DemoRows, variant: str, pause_seconds: int = 2) -> sc.Scenario:
    procedure = f"ops.CRMSP_TransferSaleAmount{variant}"
    sessions = []
    for name, debited, credited in TRANSFERS:
        # As in the demo's window 3: the engine then picks this transfer as the victim, so the outcome is known.
        priority = [sc.execute("SET DEADLOCK_PRIORITY LOW;")] if name == "c->a" else []
        sessions.append(
            sc.Session(
                name,
                [
                    *priority,
                    sc.barrier("start"),
                    exec_step(
                        procedure,
                        label=f"transfer {name}",
                        FromSaleId=demo.sale_ids[debited],
                        ToSaleId=demo.sale_ids[credited],
                        AmountUsd=TRANSFER_AMOUNT,
                        PauseSeconds=pause_seconds,
                    ),
                ],
            )
        )
    ids = tuple(demo.sale_ids[role] for role in ("transfer_a", "transfer_b", "transfer_c"))
    return sc.Scenario(
        f"cascading deadlock of three ({variant.lower()})",
        sessions=sessions,
        final_query="SELECT sale_id, amount_usd FROM sales.sales WHERE sale_id IN (%s, %s, %s) ORDER BY sale_id",
        final_params=ids,
    )


# --------------------------------------------------------------------------- judging


@dataclass
class CrmOutcome:
    scenario: str
    variant: str
    expect_anomaly: bool
    anomaly: bool
    numbers: str
    result: sc.ScenarioResult
    problems: list[str] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        return self.anomaly == self.expect_anomaly and not self.problems

    def report(self) -> str:
        shown = "anomaly shown" if self.anomaly else "anomaly prevented"
        lines = [
            f"== {self.scenario}: {self.variant}",
            f"   {self.result.summary()}",
            f"   final data: {self.result.final}",
            f"   {self.numbers}",
            *(f"   problem: {p}" for p in self.problems),
            f"   verdict: {shown} ({'as expected' if self.proved else 'NOT as expected'})",
        ]
        return "\n".join(lines)


def _money(row: Mapping[str, Any] | None, prefer: Sequence[str]) -> Decimal | None:
    """A money figure of a procedure's result row: a column whose name contains one of `prefer`, else the last."""
    if not row:
        return None
    values = [(k, v) for k, v in row.items() if isinstance(v, Decimal)]
    for word in prefer:
        for key, value in values:
            if word in key.lower():
                return value
    return values[-1][1] if values else None


def judge(name: str, variant: str, demo: DemoRows, result: sc.ScenarioResult) -> CrmOutcome:
    unsafe = variant == "Unsafe"
    problems: list[str] = []
    final = result.final
    if name == "lost update":
        q0 = demo.quantities["lost_update"]
        quantity = int(final[0]["quantity"]) if final else -1
        if result.committed != ["agent 1", "agent 2"]:
            problems.append(f"both agents should succeed, committed: {result.committed}")
        return CrmOutcome(
            name,
            variant,
            unsafe,
            quantity != q0 + 5,
            f"quantity {q0} + 2 + 3 should be {q0 + 5}: {quantity}",
            result,
            problems,
        )
    if name == "dirty read":
        committed = Decimal(final[0]["sales_usd"] or 0) if final else Decimal(-1)
        seen = _money(result.session("report").last_row(), ("total", "sales"))
        if seen is None:
            problems.append("the report returned no figure")
        return CrmOutcome(
            name,
            variant,
            unsafe,
            seen is not None and seen != committed,
            f"the report read {seen}; committed total {committed} (the 5000.00 sale was rolled back)",
            result,
            problems,
        )
    if name == "incorrect summary":
        committed = sum((Decimal(r["sales_usd"] or 0) for r in final), Decimal(0)) if final else Decimal(-1)
        published = _money(result.session("report").last_row(), ("combined", "total"))
        if published is None:
            problems.append("the report returned no figure")
        return CrmOutcome(
            name,
            variant,
            unsafe,
            published is not None and published != committed,
            f"the report published {published}; every committed state totals {committed}",
            result,
            problems,
        )
    victims, committed_sessions = result.victims, result.committed
    if unsafe:
        anomaly = len(victims) == 1 and len(committed_sessions) == 2
    else:
        anomaly = bool(victims)
        if len(committed_sessions) != 3:
            problems.append(f"all three transfers should commit, committed: {committed_sessions}")
    amounts = ", ".join(str(r["amount_usd"]) for r in final)
    return CrmOutcome(
        name,
        variant,
        unsafe,
        anomaly,
        f"victims {victims or 'none'}, committed {committed_sessions}; amounts {amounts}",
        result,
        problems,
    )


SCENARIOS: dict[str, Callable[[DemoRows, str], sc.Scenario]] = {
    "lost update": lost_update,
    "dirty read": dirty_read,
    "incorrect summary": incorrect_summary,
    "cascading deadlock": cascading_deadlock,
}


def run_one(url: str, name: str, variant: str) -> CrmOutcome:
    connect = connector(url)
    conn = connect()
    try:
        demo = reset_demo_rows(conn)
    finally:
        conn.close()
    result = sc.run_scenario(SCENARIOS[name](demo, variant), connect, sc.SQLSERVER, timeout=60, barrier_timeout=20)
    return judge(name, variant, demo, result)


def run_all(url: str) -> list[CrmOutcome]:
    return [run_one(url, name, variant) for name in SCENARIOS for variant in VARIANTS]


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    url = os.environ.get(ENV_VAR, "").strip()
    if not url:
        out(f"{ENV_VAR} is not set: set it to mssql://user:password@host:1433/PromptCrm (a deployed PromptCrm)")
        return 2
    outcomes = run_all(url)
    for outcome in outcomes:
        out(outcome.report() + "\n")
    failed = [o for o in outcomes if not o.proved]
    out(f"crm scenarios: {len(outcomes) - len(failed)} of {len(outcomes)} proved their point")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
