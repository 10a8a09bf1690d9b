"""Financing decisions of issue 14 owned by the notes helper: new notes programs (plain or
convertible) and equity issuance. Each is off by default: an instance without them keeps
today's plan.

Timing (DESIGN.md, "Timing and accounting of the new capabilities"): notes issued in month i
bring their amount less the issuance fee at the end of month i; coupons are rate/12 on the
opening balance, first paid at the end of month i + 1; the principal is repaid at the end of
month i + tenor (or left in the terminal value at face when that falls after the horizon). A
convertible converts at maturity in the scenarios whose share price that month is at or above
the conversion price: no cash, and principal x share price / conversion price of value given
away, charged at the maturity month's discount factor.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from capalloc.models.common import Identifier, Month, Strict
from capalloc.models.ranges import Plausible, Usd

USD_PER_SHARE = Plausible(0, 1e6, "USD/share")  # [CleanSpark ~$10-20; conversion price $19.16]
POSITIVE_USD_PER_SHARE = Plausible(0, 1e6, "USD/share", low_open=True)
UsdPerShare = Annotated[float, USD_PER_SHARE]
ConversionPrice = Annotated[float, POSITIVE_USD_PER_SHARE]


class NotesProgram(Strict):
    """Fixed-coupon notes the company may issue in any month of a window, up to a limit on the
    total outstanding; refinancing a maturity is issuing new notes."""

    id: Identifier = Field(description="Name of the program, e.g. senior_secured_2031.")
    coupon_pct_per_year: float = Field(
        ge=0, le=50,
        description=(
            "Annual coupon, %, paid monthly (rate/12 on the opening balance from the month after "
            "issue) (DOMAIN: project notes 7.1-7.75 %, converts 0-3 %)."
        ),
    )
    issuance_fee_pct: float = Field(
        0.0, ge=0, le=20,
        description="Fee deducted from the proceeds at issue, % of the principal (not tax-deductible).",
    )
    tenor_months: int = Field(
        ge=1, le=600, description="Months from the issue month to the month whose end repays the principal."
    )
    limit_usd: Usd = Field(description="Most principal of the program outstanding at any month's end, USD.")
    first_issue_month: Month | None = Field(
        None, description="First month (YYYY-MM) notes may be issued. Default: plan start."
    )
    last_issue_month: Month | None = Field(
        None, description="Last month (YYYY-MM) notes may be issued. Default: the last month of the plan."
    )
    conversion_price_usd: ConversionPrice | None = Field(
        None,
        description=(
            "Share price at or above which a note converts into shares at maturity instead of "
            "being repaid, USD per share; makes the program convertible and requires "
            "market.scenarios[*].share_price_usd. Default: not convertible."
        ),
    )


class EquityIssuance(Strict):
    """Shares the company may sell for cash in any month (the one exception to 'equity cannot
    be injected'). Each dollar raised costs existing holders (1 + discount) dollars of value at
    the issue month's discount factor."""

    discount_pct: float = Field(
        ge=0, le=100,
        description="Issuance discount and costs, % of the dollars raised (at-the-market programs ~2-5 %).",
    )
    limit_usd: Usd | None = Field(
        None, description="Most cash raised over the whole horizon, USD. Default: no limit."
    )
