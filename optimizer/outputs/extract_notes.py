"""Notes, convertibles and equity in the plan: the decisions read from the solved model, their
monthly cash and value lines (USD), and the debt table `debt_monthly.csv`."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.models.plan import NotesDecision
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.economics import existing_debt_schedule
from capalloc.optimizer.economics_finance import (
    NoteSchedule,
    conversion_value_usd,
    converts,
    equity_cost_factor,
    note_schedule,
)
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext
from capalloc.optimizer.formulation.financing.notes import converts_in, share_prices

DEBT_COLUMNS = ["scenario", "month", "instrument", "kind", "drawn_usd", "interest_usd", "principal_usd",
                "balance_usd", "collateral_btc", "ltv_pct"]
NOTES_LINES = ("notes_issued_usd", "notes_fees_usd", "notes_coupons_usd", "notes_repayments_usd",
               "equity_issued_usd")


def _value(var) -> float:
    value = round(pyo.value(var) * USD_PER_MODEL_UNIT, 2)
    return 0.0 if value == 0.0 else value


def notes_decisions(model, ctx: BuildContext) -> tuple[list[NotesDecision], list[float]]:
    """Notes issued per program and month, and equity raised per month (USD)."""
    T = ctx.calendar.months
    notes = [
        NotesDecision(program=p.id, issued_usd=[
            _value(model.notes_issued[p.id, t]) if (p.id, t) in model.notes_issued else 0.0
            for t in range(T)])
        for p in ctx.instance.finance.notes_programs
    ]
    equity = ([_value(model.equity_issued[t]) for t in range(T)]
              if ctx.instance.finance.equity_issuance is not None else [])
    return notes, equity


def existing_converted(instance: Instance, calendar: Calendar, debt, scenario: str) -> bool:
    """Whether an existing debt converts at its maturity in the scenario."""
    return converts_in(debt.conversion_price_usd, share_prices(instance)[scenario],
                       calendar.index(debt.maturity_month))


def note_issues(decision: NotesDecision, program, months: int, shares: list[float] | None
                ) -> Iterable[tuple[float, NoteSchedule, bool]]:
    """Each issue of a program's decision: its principal, its schedule, and whether it
    converts at maturity in the scenario whose share prices are ``shares``."""
    for i, amount in enumerate(decision.issued_usd):
        if amount == 0.0:
            continue
        schedule = note_schedule(amount, program.coupon_pct_per_year, program.issuance_fee_pct,
                                 program.tenor_months, i, months)
        m = schedule.maturity_index
        converted = shares is not None and m < months and converts(program.conversion_price_usd, shares[m])
        yield amount, schedule, converted


def notes_lines(instance: Instance, calendar: Calendar, notes: list[NotesDecision],
                equity: list[float], scenario: str) -> dict[str, list[float]]:
    """One scenario's monthly notes and equity cash lines (outflows negative), the notes
    balance, and the value given to new holders (dilution, positive, undiscounted)."""
    T = calendar.months
    out = {name: [0.0] * T for name in (*NOTES_LINES, "notes_balance_usd", "dilution_usd")}
    shares = share_prices(instance)[scenario]
    programs = {p.id: p for p in instance.finance.notes_programs}
    for decision in notes:
        program = programs[decision.program]
        for amount, s, converted in note_issues(decision, program, T, shares):
            m = s.maturity_index
            for t in range(T):
                out["notes_issued_usd"][t] += s.proceeds[t]
                out["notes_fees_usd"][t] -= s.fee[t]
                out["notes_coupons_usd"][t] -= s.coupon[t]
                out["notes_balance_usd"][t] += s.balance_end[t]
                if not converted:
                    out["notes_repayments_usd"][t] -= s.repaid[t]
            if converted:
                out["dilution_usd"][m] += conversion_value_usd(amount, shares[m],
                                                               program.conversion_price_usd)
    for debt in instance.finance.existing_debts:
        if existing_converted(instance, calendar, debt, scenario):
            m = calendar.index(debt.maturity_month)
            out["dilution_usd"][m] += conversion_value_usd(debt.principal_usd, shares[m],
                                                           debt.conversion_price_usd)
    equity_issuance = instance.finance.equity_issuance
    for t, raised in enumerate(equity):
        out["equity_issued_usd"][t] += raised
        out["dilution_usd"][t] += raised * equity_cost_factor(equity_issuance.discount_pct)
    return out


def debt_table(ctx: BuildContext, model, signed_at: dict, notes: list[NotesDecision],
               extra_rows: Iterable[dict] = ()) -> pd.DataFrame:
    """debt_monthly.csv: one row per scenario x month x instrument (existing debts, the
    revolver, project debt per phase, new notes per program, then ``extra_rows``: other
    instruments' rows as dicts with the DEBT_COLUMNS keys, month as YYYY-MM); sorted by
    scenario, month and instrument."""
    instance, calendar = ctx.instance, ctx.calendar
    T, labels = calendar.months, calendar.labels
    finance = instance.finance
    programs = {p.id: p for p in finance.notes_programs}
    rows: list[dict] = []

    def add(w: str, t: int, instrument: str, kind: str, drawn: float, interest: float,
            principal: float, balance: float) -> None:
        rows.append({"scenario": w, "month": labels[t], "instrument": instrument, "kind": kind,
                     "drawn_usd": drawn, "interest_usd": interest, "principal_usd": principal,
                     "balance_usd": balance, "collateral_btc": None, "ltv_pct": None})

    for w in ctx.scenario_names:
        shares = share_prices(instance)[w]
        for debt in finance.existing_debts:
            maturity = calendar.index(debt.maturity_month)
            coupon, repaid, balance = existing_debt_schedule(
                debt.principal_usd, debt.coupon_pct_per_year, maturity, T)
            kind = "convertible" if debt.conversion_price_usd is not None else "existing"
            if converts_in(debt.conversion_price_usd, shares, maturity):
                kind, repaid = "converted", [0.0] * T
            for t in range(T):
                add(w, t, debt.id, kind, 0.0, coupon[t], repaid[t], balance[t])
        if finance.revolver is not None:
            rate = finance.revolver.rate_pct_per_year / 1200.0
            before = finance.revolver.drawn_at_start_usd
            for t in range(T):
                balance = pyo.value(model.revolver_balance[t, w]) * USD_PER_MODEL_UNIT
                change = balance - before
                add(w, t, "revolver", "revolver", max(change, 0.0), rate * before, max(-change, 0.0), balance)
                before = balance
        for win in ctx.phase_windows:
            s = signed_at[win.key]
            if s is None or not any(win.schedule.debt_draw):
                continue
            name = f"project_{win.site}_{win.phase.id}"
            for t in range(s, T):
                a = t - s
                # Interest accrued: paid, or capitalized into the balance before rent start.
                interest = win.schedule.value("debt_interest", a) + win.schedule.value(
                    "debt_interest_capitalized", a)
                add(w, t, name, "project", win.schedule.value("debt_draw", a), interest,
                    win.schedule.value("debt_principal", a),
                    win.schedule.value("debt_balance_end", a))
        for decision in notes:
            program = programs[decision.program]
            lines = {k: [0.0] * T for k in ("drawn", "interest", "principal", "balance")}
            for _amount, sched, converted in note_issues(decision, program, T, shares):
                for t in range(T):
                    lines["drawn"][t] += sched.proceeds[t]
                    lines["interest"][t] += sched.coupon[t]
                    lines["principal"][t] += 0.0 if converted else sched.repaid[t]
                    lines["balance"][t] += sched.balance_end[t]
            kind = "convertible" if program.conversion_price_usd is not None else "notes"
            for t in range(T):
                add(w, t, program.id, kind, lines["drawn"][t], lines["interest"][t],
                    lines["principal"][t], lines["balance"][t])
    rows.extend(extra_rows)
    frame = pd.DataFrame(rows, columns=DEBT_COLUMNS)
    for column in ("drawn_usd", "interest_usd", "principal_usd", "balance_usd"):
        frame[column] = frame[column].astype(float).round(2) + 0.0
    return frame.sort_values(["scenario", "month", "instrument"], kind="stable").reset_index(drop=True)
