"""Plausible ranges of the figures in instance files.

Every number a planner writes must be finite (the Strict base refuses NaN and infinity) and
lie in its field's plausible range, or the file is refused naming the field and the range.
The ranges are deliberately wide: each holds any figure a planner may sensibly write (the
figures of DOMAIN.md with margins of 10x to 1000x, stress cases included) and refuses only
absurd ones, such as 1e300 or a price typed in the wrong unit by a factor of a million,
which would leave the solver nothing meaningful to work with. A monthly series is held to
its field's range in every month of the horizon.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


def format_number(value: float) -> str:
    """Short and exact: 1e8 -> '1e8', 1e5 -> '100000', 0.001 -> '0.001', 2147483647 as is."""
    short = f"{value:g}"
    if math.isfinite(value) and float(short) != value:
        short = str(int(value)) if value == int(value) and abs(value) < 1e16 else repr(value)
    return short.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


@dataclass(frozen=True)
class Plausible:
    """Annotation metadata: the closed range [low, high] of a field (low excluded when
    ``low_open``), in the field's unit. It validates numbers, not series objects (those are
    checked month by month once the horizon is known) and adds the bounds to the schema."""

    low: float
    high: float
    unit: str
    low_open: bool = False

    @property
    def text(self) -> str:
        low = f"above {format_number(self.low)}" if self.low_open else format_number(self.low)
        return f"{low} to {format_number(self.high)} {self.unit}".rstrip()

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def problem(self, value: float) -> str | None:
        """Why ``value`` is refused, or None when it lies in the range."""
        if self.contains(value):
            return None
        return f"{format_number(value)} is outside the plausible range {self.text}"

    def _check(self, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            message = self.problem(float(value))
            if message is not None:
                raise PydanticCustomError(
                    "plausible_range", "{message}; check the figure and its unit", {"message": message}
                )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler):
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        json_schema["maximum"] = self.high
        return json_schema


def find_plausible(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> Plausible | None:
    """The Plausible range among a field's metadata or anywhere inside its annotation
    (``dict[str, Annotated[float, Plausible(...)]]`` included)."""
    for item in metadata:
        if isinstance(item, Plausible):
            return item
    if typing.get_origin(annotation) is Annotated:
        return find_plausible(typing.get_args(annotation)[0], annotation.__metadata__)
    for arg in typing.get_args(annotation):
        found = find_plausible(arg)
        if found is not None:
            return found
    return None


def field_range(model: Any, name: str) -> Plausible:
    """The Plausible range of ``model``'s field ``name`` (a KeyError when it has none)."""
    field = model.model_fields[name]
    found = find_plausible(field.annotation, field.metadata)
    if found is None:
        raise KeyError(f"{model.__name__}.{name} has no plausible range")
    return found


# The ranges, by kind of figure. DOMAIN.md's figures in brackets.
MW = Plausible(0, 1e5, "MW")  # [sites 60-600 MW, companies under 2 GW]
MW_POSITIVE = Plausible(0, 1e5, "MW", low_open=True)
USD = Plausible(0, 1e13, "USD")  # [cash $0.5B, converts $1.15B]
USD_PER_MW = Plausible(0, 1e9, "USD/MW")  # [AI capex 8-11 M$/MW, stress 20 M$/MW]
USD_PER_MW_MONTH = Plausible(0, 1e7, "USD/MW-month")  # [rent ~150 k$/MW-month]
USD_PER_KW_MONTH = Plausible(0, 1e4, "USD/kW-month")  # [leases 102-159]
USD_PER_MWH = Plausible(0, 1e4, "USD/MWh")  # [26-81; ERCOT's price cap is 5,000]
USD_PER_BTC = Plausible(0, 1e8, "USD/BTC")  # [76,000-90,000]
POSITIVE_USD_PER_BTC = Plausible(0, 1e8, "USD/BTC", low_open=True)
USD_PER_TH = Plausible(0, 1e4, "USD/TH")  # [new ASICs 10-30 USD per TH/s]
HASHPRICE_USD_PER_PH_DAY = Plausible(0, 1e9, "USD/PH/day")  # [30-55; beyond ~1e11 HiGHS fails]
EH_PER_S = Plausible(1e-3, 1e7, "EH/s")  # [830-1,100]
BTC_PER_BLOCK = Plausible(0, 50, "BTC/block")  # [subsidy 3.125; the first subsidy was 50]
BTC = Plausible(0, 2.1e7, "BTC")  # [13,000 held; 21 million will ever exist]
J_PER_TH = Plausible(1, 1000, "J/TH")  # [9.6-20]
BLOCKS_PER_DAY = Plausible(1, 1e4, "blocks/day")  # [144]
GROWTH_PCT_PER_YEAR = Plausible(-99, 1000, "%/year")
SECONDS = Plausible(0, 1e7, "s", low_open=True)

Megawatts = Annotated[float, MW]
PositiveMegawatts = Annotated[float, MW_POSITIVE]
Usd = Annotated[float, USD]
UsdPerMw = Annotated[float, USD_PER_MW]
UsdPerMwMonth = Annotated[float, USD_PER_MW_MONTH]
UsdPerKwMonth = Annotated[float, USD_PER_KW_MONTH]
Btc = Annotated[float, BTC]
BtcPerBlock = Annotated[float, BTC_PER_BLOCK]
JoulesPerTerahash = Annotated[float, J_PER_TH]
