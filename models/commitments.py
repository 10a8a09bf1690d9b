"""Commitments: decisions a planner pins in the instance (DESIGN, "Commitments and what-ifs").

Written as one optional top-level section::

    commitments:
      signings:
        - {site: georgia, phase: ga1, in_month: "2026-12"}     # signed in exactly that month
        - {site: georgia, phase: ga2, by_month: "2028-06"}     # signed in or before it
        - {site: tennessee, phase: tn1, not_before_month: "2027-01"}
        - {site: tennessee, phase: tn2, never: true}
      fleet_orders: [{generation: s21xp, month: "2026-09", mw: 50.0}]
      fleet_sales: [{generation: s19xp, month: "2027-03", mw: 20.0}]
      hall_builds: [{site: wyoming, month: "2026-08", mw: 30.0}]
      notes_issued: [{program: senior_2031, month: "2027-01", usd: 300000000.0}]
      equity_issued: [{month: "2027-01", usd: 100000000.0}]
      unlisted: free                                             # or none

A listed order, sale, hall build, note issue or equity raise is fixed in size and month.
``unlisted: none`` fixes everything else to nothing: phases not listed are never signed and
no other order, sale, build or issue happens (what ``capalloc evaluate`` writes for a plan).
Absent, the section pins nothing and every plan stays as it was.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from capalloc.models.common import Identifier, Month, Strict
from capalloc.models.ranges import Megawatts, Usd


class SigningCommitment(Strict):
    """When one AI phase's lease is (or is not) signed."""

    site: Identifier = Field(description="Site id (sites[].id).")
    phase: Identifier = Field(description="Phase id within the site (sites[].ai_phases[].id).")
    in_month: Month | None = Field(None, description="Signed in exactly this month (YYYY-MM).")
    by_month: Month | None = Field(
        None, description="Signed in this month (YYYY-MM) or earlier; combinable with not_before_month.")
    not_before_month: Month | None = Field(
        None, description="Not signed before this month (YYYY-MM), if at all; combinable with by_month.")
    never: bool = Field(False, description="Never signed within the horizon.")

    @model_validator(mode="after")
    def _one_rule(self) -> SigningCommitment:
        given = [name for name in ("in_month", "by_month", "not_before_month")
                 if getattr(self, name) is not None]
        if self.never and given:
            raise ValueError(f"never: true contradicts {', '.join(given)}; keep one")
        if self.in_month is not None and len(given) > 1:
            raise ValueError("in_month fixes the month; drop by_month and not_before_month")
        if not self.never and not given:
            raise ValueError("say when: in_month, by_month, not_before_month or never: true")
        return self


class FleetCommitment(Strict):
    """An ASIC order or sale of one generation, fixed in month and size."""

    generation: Identifier = Field(description="Generation id (fleet[].id).")
    month: Month = Field(description="Month of the order or sale (YYYY-MM).")
    mw: Megawatts = Field(description="ASIC MW ordered or sold in that month.")


class HallCommitment(Strict):
    """Mining halls whose build starts in one month at one site, fixed in size."""

    site: Identifier = Field(description="Site id (sites[].id) offering mining_halls.")
    month: Month = Field(description="Month the build starts (YYYY-MM).")
    mw: Megawatts = Field(description="Hall MW built.")


class NotesCommitment(Strict):
    """Principal issued under one notes program in one month."""

    program: Identifier = Field(description="Program id (finance.notes_programs[].id).")
    month: Month = Field(description="Issue month (YYYY-MM).")
    usd: Usd = Field(description="Principal issued, USD.")


class EquityCommitment(Strict):
    """Cash raised by issuing shares in one month (finance.equity_issuance must be offered)."""

    month: Month = Field(description="Issue month (YYYY-MM).")
    usd: Usd = Field(description="Cash raised, USD.")


class Commitments(Strict):
    """Decisions pinned before the solve; everything not pinned is still optimized."""

    signings: list[SigningCommitment] = Field(default_factory=list, description="Pinned signings.")
    fleet_orders: list[FleetCommitment] = Field(default_factory=list, description="Pinned ASIC orders.")
    fleet_sales: list[FleetCommitment] = Field(default_factory=list, description="Pinned ASIC sales.")
    hall_builds: list[HallCommitment] = Field(default_factory=list, description="Pinned mining hall builds.")
    notes_issued: list[NotesCommitment] = Field(default_factory=list, description="Pinned note issues.")
    equity_issued: list[EquityCommitment] = Field(
        default_factory=list, description="Pinned equity raises.")
    unlisted: Literal["free", "none"] = Field(
        "free",
        description=(
            "free: decisions not listed are optimized; none: they are fixed to nothing (phases "
            "not listed are never signed, no other order, sale, build or issue happens)."
        ),
    )

    @property
    def empty(self) -> bool:
        """Whether the section pins nothing (absent, or listing nothing with unlisted: free)."""
        return self.unlisted == "free" and not any(
            (self.signings, self.fleet_orders, self.fleet_sales, self.hall_builds,
             self.notes_issued, self.equity_issued))
