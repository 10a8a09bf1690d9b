"""Pure arithmetic of taxes and the covenant (DESIGN.md, "Timing and accounting": Taxes,
Covenant), shared by the formulation and the independent audit so that both mean the same
thing by a number without sharing model code."""

from __future__ import annotations


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
