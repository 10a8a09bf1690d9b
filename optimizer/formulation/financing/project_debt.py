"""Project debt per signed phase as rows of debt_monthly.csv (the flows themselves are the
phase's schedule, economics.phase_schedule, posted by formulation.ai_phases)."""

from __future__ import annotations

from optimizer.formulation.context import BuildContext


def project_debt_rows(ctx: BuildContext, signed_at: dict[tuple[str, str], int | None]) -> list[dict]:
    """One row per scenario x month of each financed phase signed by then: draws with capex,
    interest accrued (paid, or capitalized before rent start when the instance says so),
    principal and the balance at the month's end."""
    rows: list[dict] = []
    for w in ctx.scenario_names:
        for window in ctx.phase_windows:
            s, schedule = signed_at.get(window.key), window.schedule
            if s is None or not any(schedule.debt_draw):
                continue
            for t in range(s, ctx.calendar.months):
                age = t - s
                interest = (schedule.value("debt_interest", age)
                            + schedule.value("debt_interest_capitalized", age))
                rows.append({
                    "scenario": w, "month": ctx.calendar.label(t),
                    "instrument": f"project_{window.site}_{window.phase.id}", "kind": "project_debt",
                    "drawn_usd": round(schedule.value("debt_draw", age), 2) + 0.0,
                    "interest_usd": round(interest, 2) + 0.0,
                    "principal_usd": round(schedule.value("debt_principal", age), 2) + 0.0,
                    "balance_usd": round(schedule.value("debt_balance_end", age), 2) + 0.0,
                    "collateral_btc": None, "ltv_pct": None,
                })
    return rows
