"""Pure arithmetic of the financing decisions and of taxes and the covenant (DESIGN.md,
"Timing and accounting of the new capabilities"): the schedule of a note, when a convertible
converts and what it costs, what equity issuance costs existing holders, depreciation, taxes
with losses carried forward, trailing sums. The formulation, the plan tables and the
independent audit all read the meaning from here, without sharing model code."""

from __future__ import annotations

from dataclasses import dataclass


def straight_line(total_usd: float, first_month: int, life_months: int, months: int) -> list[float]:
    """Depreciation per month of the horizon (0..months-1): total / life in each of the
    ``life_months`` months from ``first_month`` on (months outside the horizon dropped)."""
    out = [0.0] * months
    for m in range(max(first_month, 0), min(first_month + life_months, months)):
        out[m] = total_usd / life_months
    return out


def depreciation_after_horizon_pv(total_usd: float, first_month: int, life_months: int, months: int,
                                  after_end_factors: list[float]) -> float:
    """Present value at the end of the horizon of the depreciation still to come after it:
    month T + j - 1 (j >= 1) is discounted by ``after_end_factors[j - 1]``."""
    per_month = total_usd / life_months
    value = 0.0
    for m in range(max(first_month, months), first_month + life_months):
        j = m - months + 1
        if j - 1 >= len(after_end_factors):
            break
        value += per_month * after_end_factors[j - 1]
    return value


def taxes_paid(taxable_income: list[float], rate_pct: float) -> list[float]:
    """Tax paid in each month: cumulative tax through t = rate x max(0, the largest cumulative
    taxable income through any month <= t). A loss is carried forward until profits use it
    up and is never carried back (nothing is refunded)."""
    rate = rate_pct / 100.0
    out, cumulative, base = [], 0.0, 0.0
    for income in taxable_income:
        cumulative += income
        new_base = max(base, cumulative)
        out.append(rate * (new_base - base))
        base = new_base
    return out


def terminal_tax(after_horizon_pv_usd: float, depreciation_pv_usd: float, rate_pct: float) -> float:
    """DESIGN: the terminal value's after-horizon rent and mining are reduced by rate x (their
    present value - the present value of the depreciation still to come), not below zero."""
    return rate_pct / 100.0 * max(0.0, after_horizon_pv_usd - depreciation_pv_usd)


def trailing_sum(values: list[float], t: int, window: int = 12) -> float:
    """Sum of ``values`` over the ``window`` months ending with t (fewer before the 12th)."""
    return sum(values[max(0, t - window + 1): t + 1])


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
