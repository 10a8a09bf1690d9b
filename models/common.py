"""Shared building blocks of the data contract: months, identifiers and monthly series."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from capalloc.models.ranges import GROWTH_PCT_PER_YEAR, Plausible, find_plausible
from capalloc.models.reading import (
    MAX_CSV_BYTES,
    ReadError,
    check_regular_file,
    decode_text,
    printable_cut,
    read_regular_file,
    resolve_inside,
    shown,
)

# [0-9], not \d: \d also matches other scripts' digits (full-width "２０２６") in Python and in
# pydantic's regex engine alike, and int() would then read them as a month.
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"

Month = Annotated[
    str,
    Field(
        pattern=MONTH_PATTERN,
        description="A calendar month written YYYY-MM, e.g. 2027-07.",
        examples=["2026-07"],
    ),
]
"""A calendar month as written in files: ``YYYY-MM``."""

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$",
        max_length=64,
        description="A short name: a letter, then letters, digits, '_' or '-'.",
    ),
]


def month_ordinal(month: str) -> int:
    """Months since year 0 of a ``YYYY-MM`` string (2026-07 -> 2026*12 + 6)."""
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def ordinal_to_month(ordinal: int) -> str:
    """Inverse of :func:`month_ordinal`."""
    return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"


class Strict(BaseModel):
    """Base of every schema: strict types, unknown keys rejected, every number finite.

    A field whose type carries a plausible range (models.ranges) states it at the end of its
    description, so that `capalloc schema` and the docs say what the validation enforces."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=False, allow_inf_nan=False)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for field in cls.model_fields.values():
            plausible = find_plausible(field.annotation, field.metadata)
            if plausible is not None and "Plausible range:" not in (field.description or ""):
                field.description = f"{field.description or ''} Plausible range: {plausible.text}.".lstrip()
                changed = True
        if changed:  # the schema was built before this hook runs: rebuild it with the new text
            cls.model_rebuild(force=True)


class GrowthSeries(Strict):
    """A value at the plan's first month that compounds at a fixed annual rate."""

    kind: Literal["growth"] = Field(
        "growth", description="Marks this series as start value plus compound growth."
    )
    start_value: float = Field(description="Value in the plan's first month, in the field's unit.")
    growth_pct_per_year: Annotated[float, GROWTH_PCT_PER_YEAR] = Field(
        0.0,
        description="Compound annual growth in percent; month t has start_value*(1+g)^(t/12).",
    )

    def values(self, start: str, months: int) -> list[float]:
        factor = 1.0 + self.growth_pct_per_year / 100.0
        return [self.start_value * factor ** (t / 12.0) for t in range(months)]


class CsvSeries(Strict):
    """A monthly series read from a CSV file next to the instance file.

    The CSV needs a ``month`` column (YYYY-MM) and the named value column; it must cover
    every month of the horizon (extra months are ignored).
    """

    kind: Literal["csv"] = Field("csv", description="Marks this series as read from a CSV file.")
    csv: str = Field(description="Path of the CSV file, relative to the instance file's folder.")
    column: str = Field(description="Name of the value column in that CSV file.")
    _by_month: dict[str, float] = PrivateAttr(default_factory=dict)

    @field_validator("csv")
    @classmethod
    def _relative_inside(cls, path: str, info: ValidationInfo) -> str:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise ValueError(
                "must be a path inside the instance file's folder (no absolute path, no '..')"
            )
        base_dir = (info.context or {}).get("base_dir")
        if base_dir is not None:  # refuse a link out of the folder before anything is read
            try:
                check_regular_file(resolve_inside(Path(base_dir), path), MAX_CSV_BYTES, False)
            except ReadError as error:
                raise ValueError(_csv_file_problem(path, error)) from None
        return path

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> CsvSeries:
        base_dir = (info.context or {}).get("base_dir")
        if base_dir is None:
            preloaded = (info.context or {}).get("preloaded_series", {})
            key = (self.csv, self.column)
            if key in preloaded:
                self._by_month = dict(preloaded[key])
                return self
            raise ValueError(
                f"CSV series {self.csv!r} can only be read when the instance is loaded from a "
                "file (models.load_instance)"
            )
        try:
            file = resolve_inside(Path(base_dir), self.csv)
            text = decode_text(read_regular_file(file, MAX_CSV_BYTES, follow_symlinks=False))
        except ReadError as error:
            raise ValueError(_csv_file_problem(self.csv, error)) from None
        self._by_month = parse_monthly_csv(text, self.csv, self.column)
        return self

    def values(self, start: str, months: int) -> list[float]:
        first = month_ordinal(start)
        wanted = [ordinal_to_month(first + t) for t in range(months)]
        missing = [m for m in wanted if m not in self._by_month]
        if missing:
            raise ValueError(
                f"CSV series {self.csv}[{self.column}] lacks {len(missing)} month(s) of the "
                f"horizon, first {missing[0]}"
            )
        return [self._by_month[m] for m in wanted]

    def covers(self, start: str, months: int) -> str | None:
        """The first horizon month the file lacks, or None when it covers the horizon."""
        first = month_ordinal(start)
        for t in range(months):
            month = ordinal_to_month(first + t)
            if month not in self._by_month:
                return month
        return None


def _csv_file_problem(name: str, error: ReadError) -> str:
    if error.message == "file not found":
        return f"CSV file {shown(name, 60)} not found next to the instance file"
    hint = f"; {error.hint}" if error.hint else ""
    return f"CSV file {shown(name, 60)} {error.message}{hint}"


def parse_monthly_csv(text: str, name: str, column: str) -> dict[str, float]:
    """The ``column`` of a CSV text by its ``month`` column; ValueError naming file and line.

    Messages quote at most a short, cut piece of a cell: a file may hold anything."""
    where = printable_cut(name, 60)
    by_month: dict[str, float] = {}
    first_line: dict[str, int] = {}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = reader.fieldnames or []
        if "month" not in fields or column not in fields:
            listed = ", ".join(shown(f, 30) for f in fields[:8]) + (", ..." if len(fields) > 8 else "")
            raise ValueError(
                f"CSV file {shown(name, 60)} needs columns 'month' and {shown(column)}; it has {listed}"
            )
        for row in reader:
            line = reader.line_num
            month = (row["month"] or "").strip()
            if not re.match(MONTH_PATTERN, month):
                raise ValueError(f"{where}:{line}: month {shown(month)} is not YYYY-MM")
            if month in first_line:
                raise ValueError(f"{where}:{line}: month {month} appears again (first on line "
                                 f"{first_line[month]}); keep one row per month")
            try:
                value = float(row[column])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}:{line}: {shown(column)}={shown(row[column])} is not a number"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"{where}:{line}: {shown(column)} is not finite")
            by_month[month], first_line[month] = value, line
    except csv.Error as error:  # e.g. a cell over csv.field_size_limit() (131,072 characters)
        # DictReader.line_num is only updated after a row was read; its reader's is current.
        raise ValueError(f"{where}:{reader.reader.line_num}: cannot be read as CSV: {error}") from None
    return by_month


Series = Annotated[
    float | Annotated[GrowthSeries | CsvSeries, Field(discriminator="kind")],
    BeforeValidator(lambda value: discriminate_series(value)),
    Field(
        description=(
            "A monthly series: a constant number, {start_value, growth_pct_per_year}, "
            "or {csv, column} naming a CSV file beside the instance."
        )
    ),
]


def series_values(series: float | GrowthSeries | CsvSeries, start: str, months: int) -> list[float]:
    """The value of a series for each month of the horizon."""
    if isinstance(series, int | float):
        return [float(series)] * months
    return series.values(start, months)


def series_range_problem(
    series: float | GrowthSeries | CsvSeries, start: str, months: int, plausible: Plausible
) -> str | None:
    """The first month of the horizon whose value lies outside ``plausible``, as a message."""
    first = month_ordinal(start)
    for t, value in enumerate(series_values(series, start, months)):
        problem = plausible.problem(value)
        if problem is not None:
            return f"{ordinal_to_month(first + t)}: {problem}"
    return None


def discriminate_series(value: Any) -> Any:
    """Let YAML mappings pick their series kind from the keys they carry."""
    if isinstance(value, dict) and "kind" not in value:
        if "csv" in value:
            return {"kind": "csv", **value}
        if "start_value" in value:
            return {"kind": "growth", **value}
    return value
