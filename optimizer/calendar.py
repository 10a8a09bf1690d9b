"""Time: the plan's periods, their lengths and discount factors.

This is the only place that knows a period is a calendar month. Everything else asks it
for days, hours, discount factors and period indices.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from functools import cached_property

from capalloc.models.common import month_ordinal, ordinal_to_month


@dataclass(frozen=True)
class Calendar:
    """Months t = 0..T-1 from ``start``; flows of month t are paid at its end."""

    start: str
    months: int
    discount_rate_pct_per_year: float

    @cached_property
    def labels(self) -> list[str]:
        first = month_ordinal(self.start)
        return [ordinal_to_month(first + t) for t in range(self.months)]

    @cached_property
    def days(self) -> list[int]:
        out = []
        for label in self.labels:
            year, month = (int(x) for x in label.split("-"))
            out.append(_calendar.monthrange(year, month)[1])
        return out

    @cached_property
    def hours(self) -> list[int]:
        return [24 * d for d in self.days]

    @cached_property
    def years(self) -> list[int]:
        return [int(label[:4]) for label in self.labels]

    @cached_property
    def discount_factors(self) -> list[float]:
        """(1 + r)^-((t+1)/12) for each month t."""
        return [discount_factor(self.discount_rate_pct_per_year, (t + 1) / 12.0)
                for t in range(self.months)]

    def index(self, month: str) -> int:
        """Period index of a YYYY-MM month (may be negative or >= T when outside)."""
        return month_ordinal(month) - month_ordinal(self.start)

    def label(self, t: int) -> str:
        return ordinal_to_month(month_ordinal(self.start) + t)

    def year_periods(self) -> dict[int, list[int]]:
        """Calendar year -> the plan's months in it."""
        out: dict[int, list[int]] = {}
        for t, year in enumerate(self.years):
            out.setdefault(year, []).append(t)
        return out

    def months_after_end_factors(self, count: int) -> list[float]:
        """Discount factors, seen from the end of the last month, of the next ``count`` months."""
        return [discount_factor(self.discount_rate_pct_per_year, j / 12.0) for j in range(1, count + 1)]

    @property
    def periods_per_year(self) -> int:
        return 12


def discount_factor(rate_pct_per_year: float, years: float) -> float:
    return (1.0 + rate_pct_per_year / 100.0) ** (-years)
