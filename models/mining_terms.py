"""Terms of mining as an investment (issue 13): demand-response credits, mining halls a site may
build, how a generation can be bought, and the network's marginal fleet that floors hashprice.
Each is absent by default, so an instance without them keeps its plan (DESIGN.md, "Mining is
an investable bridge asset")."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from capalloc.models.common import Month, Series, Strict
from capalloc.models.ranges import USD_PER_TH


class Curtailment(Strict):
    """Demand response: the site is paid for power it does not draw in peak hours."""

    credit_usd_per_mwh: float = Field(
        ge=0, le=10000,
        description=(
            "Credit per MWh of facility power not drawn (ASIC MW x mining PUE), USD "
            "(DOMAIN: ERCOT 4CP avoidance worth $50-150/kW-yr; Riot $46.7M in 9 months of 2025)."
        ),
    )
    max_share_pct_by_calendar_month: dict[int, float] = Field(
        description=(
            "Largest share of the month's running hours that may be curtailed, % (0-100), by "
            "calendar month 1-12, e.g. {7: 10, 8: 10}; months not named allow none."
        ),
    )

    @field_validator("max_share_pct_by_calendar_month", mode="before")
    @classmethod
    def _month_keys_from_text(cls, shares: Any) -> Any:
        # JSON has only text keys; "7" means July as 7 does in YAML.
        if isinstance(shares, dict):
            return {int(k) if isinstance(k, str) and k.strip().isdigit() else k: v
                    for k, v in shares.items()}
        return shares

    @field_validator("max_share_pct_by_calendar_month", mode="after")
    @classmethod
    def _months_and_shares(cls, shares: dict[int, float]) -> dict[int, float]:
        for month, share in shares.items():
            if not 1 <= month <= 12:
                raise ValueError(f"calendar month {month} is not 1-12")
            if not 0.0 <= share <= 100.0 or share != share:
                raise ValueError(f"share {share:g} % for month {month} is not within 0-100 %")
        return shares


class MiningHalls(Strict):
    """New mining infrastructure the site may build: ASIC halls, containers, transformers."""

    capex_usd_per_mw: float = Field(
        ge=0, le=1e8,
        description="Build cost per MW of ASIC load hosted, USD, paid at the end of the build month.",
    )
    build_lead_months: int = Field(
        ge=1, le=60, description="Months from the build month to the first month the halls host miners."
    )
    max_mw: float = Field(
        ge=0, le=1e5, description="Most ASIC MW of halls the site may add over the horizon, MW."
    )


class Purchase(Strict):
    """How a generation can be bought: price, delivery, payment terms and supply."""

    price_usd_per_th: Annotated[Series, USD_PER_TH] = Field(
        description="Price per TH/s in the order month, USD (DOMAIN: $10-30/TH; 1 MW = 1e6 / (J/TH) TH/s)."
    )
    delivery_lead_months: int = Field(
        ge=1, le=36,
        description="Months from the order month to the first month the machines run (>= 1).",
    )
    deposit_pct: float = Field(
        100.0, ge=0, le=100,
        description=(
            "Share of the price paid at the end of the order month, %; the rest is paid at the "
            "end of the delivery month (order month + lead)."
        ),
    )
    lot_mw: float | None = Field(
        None, gt=0, le=1e4,
        description="Orders come in whole lots of this many MW (default: any amount).",
    )
    max_mw_per_month: float | None = Field(
        None, ge=0, le=1e5, description="Supply limit: most MW that can be ordered in one month."
    )
    first_order_month: Month | None = Field(
        None, description="First month (YYYY-MM) orders may be placed. Default: plan start."
    )


class MarginalFleet(Strict):
    """The network's marginal miner: the network hashrate never exceeds its break-even."""

    efficiency_j_per_th: float = Field(gt=0, le=200, description="Its energy per terahash, J/TH.")
    power_price_usd_per_mwh: float = Field(
        ge=0, le=10000, description="Its power price, USD/MWh (PUE 1, uptime 100 %)."
    )
