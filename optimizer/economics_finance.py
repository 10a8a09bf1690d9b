"""Pure arithmetic of the financing decisions (DESIGN.md, "Timing and accounting of the new
capabilities"): the schedule of a note, when a convertible converts and what it costs, and
what equity issuance costs existing holders. The formulation, the plan tables and the
independent audit all read the meaning from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoteSchedule:
    """One issue's flows per month of the horizon, USD (all positive numbers)."""

    proceeds: list[float]  # principal received at the end of the issue month
    fee: list[float]  # issuance fee deducted from the proceeds in the issue month
    coupon: list[float]  # rate/12 on the opening balance, from the month after issue
    repaid: list[float]  # principal due at the end of the maturity month
    balance_end: list[float]  # principal outstanding at each month's end
    maturity_index: int  # issue month + tenor; may fall after the horizon


def note_schedule(principal_usd: float, coupon_pct_per_year: float, issuance_fee_pct: float,
                  tenor_months: int, issue_index: int, months: int) -> NoteSchedule:
    """A bullet note issued at the end of month ``issue_index``: fee at issue, coupons on the
    opening balance in months issue+1 .. issue+tenor, principal at the end of issue+tenor."""
    maturity = issue_index + tenor_months
    monthly = coupon_pct_per_year / 100.0 / 12.0
    proceeds, fee, coupon, repaid, balance = ([0.0] * months for _ in range(5))
    for t in range(months):
        if t == issue_index:
            proceeds[t] = principal_usd
            fee[t] = principal_usd * issuance_fee_pct / 100.0
        if issue_index < t <= maturity:
            coupon[t] = principal_usd * monthly
        if t == maturity:
            repaid[t] = principal_usd
        if issue_index <= t < maturity:
            balance[t] = principal_usd
    return NoteSchedule(proceeds, fee, coupon, repaid, balance, maturity)


def converts(conversion_price_usd: float | None, share_price_usd: float) -> bool:
    """A note converts at maturity iff the share price that month is at or above the
    conversion price (a note without one never converts)."""
    return conversion_price_usd is not None and share_price_usd >= conversion_price_usd


def conversion_value_usd(principal_usd: float, share_price_usd: float, conversion_price_usd: float) -> float:
    """Value given to the noteholders on conversion: principal / conversion price shares, each
    worth the share price."""
    return principal_usd * share_price_usd / conversion_price_usd


def equity_cost_factor(discount_pct: float) -> float:
    """What each dollar raised by issuing shares costs existing holders, in value."""
    return 1.0 + discount_pct / 100.0
