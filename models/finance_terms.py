"""Financing terms of issue 14 beside the notes (models/finance_notes.py): a BTC-backed loan,
income taxes and a DSCR covenant. Each is absent by default, so an instance without them keeps
its plan (DESIGN.md, "Financing is a decision, not a given")."""

from __future__ import annotations

from pydantic import Field

from capalloc.models.common import Month, Strict
from capalloc.models.ranges import Usd


class BtcLoan(Strict):
    """A BTC-backed loan facility: borrowed USD <= LTV x that month's BTC price x BTC pledged,
    every month and scenario; pledged BTC cannot be sold; interest paid monthly."""

    limit_usd: Usd = Field(description="Largest balance the lender allows, USD (DOMAIN: up to ~300M).")
    rate_pct_per_year: float = Field(
        ge=0, le=50, description="Interest on each month's opening balance, % per year (DOMAIN 8-16)."
    )
    ltv_pct: float = Field(
        gt=0, le=100,
        description="Largest loan-to-value: balance / (BTC pledged x BTC price), % (DOMAIN ~50).",
    )


class Taxes(Strict):
    """Income tax with losses carried forward (DESIGN.md, "Timing and accounting": Taxes)."""

    rate_pct: float = Field(
        0.0, ge=0, le=100,
        description=(
            "Tax rate on taxable income (EBITDA - interest - depreciation), %. Cumulative tax paid "
            "through a month = rate x the largest cumulative taxable income so far (not below 0): "
            "losses carry forward without limit, never back. 0 = no taxes."
        ),
    )


class Covenant(Strict):
    """A corporate debt-service coverage covenant (DESIGN.md: Covenant)."""

    min_dscr: float = Field(
        ge=0.1, le=10,
        description="Least trailing-12-month EBITDA / trailing-12-month debt service, x (DOMAIN: 1.20-1.25).",
    )
    from_month: Month = Field(
        description=(
            "First month (YYYY-MM) the covenant is tested; months before the 12th of the plan "
            "use the months available."
        ),
    )
