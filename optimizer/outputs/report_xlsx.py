"""plan.xlsx / sweep.xlsx: a summary sheet, then one formatted sheet per table (xlsxwriter).

Each table sheet holds its CSV as it is: the same header (the column names carry their units,
e.g. ``cash_end_usd``), the same values (number formats only change how they show), frozen
header and key columns, an autofilter. Same input, same bytes: the creation date is fixed."""

from __future__ import annotations

import datetime
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

FIXED_DATE = datetime.datetime(2000, 1, 1)
"""Written as the workbook's creation date so that the same plan gives the same bytes."""
KEY_COLUMNS = ("scenario", "site", "phase", "generation", "month", "instrument", "kind", "point_id",
               "status", "metric", "parameter")
FORMATS = (  # (name suffix, Excel number format); the first that matches wins
    ("_usd", "#,##0"), ("_btc", "#,##0.00000000"), ("_mw", "#,##0.000"), ("_ehs", "#,##0.000"),
    ("_pct", "0.00"), ("_day", "#,##0.00"), ("_mwh", "#,##0.00"), ("_seconds", "0.000"),
)
MAX_WIDTH = 40


@dataclass
class Block:
    """A titled table on the summary sheet: rows of cells under a header."""

    title: str
    header: list[str]
    rows: list[list[Any]]
    formats: list[str | None] = field(default_factory=list)  # per column; None: general
    row_formats: list[str | None] | None = None  # per row instead, where a column mixes units


def number_format(column: str) -> str | None:
    for suffix, fmt in FORMATS:
        if column.endswith(suffix):
            return fmt
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _write(sheet: Worksheet, row: int, col: int, value: Any, fmt: Any) -> None:
    if _blank(value):
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        if math.isfinite(value):
            sheet.write_number(row, col, float(value), fmt)
        else:
            sheet.write_string(row, col, str(value), fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)


class _Formats:
    def __init__(self, book: Workbook):
        self.book = book
        self.header = book.add_format({"bold": True, "bg_color": "#F0F3F7", "border": 1, "text_wrap": True,
                                       "valign": "bottom"})
        self.title = book.add_format({"bold": True, "font_size": 13})
        self._numbers: dict[str | None, Any] = {}

    def number(self, fmt: str | None) -> Any:
        if fmt not in self._numbers:
            self._numbers[fmt] = self.book.add_format({"num_format": fmt}) if fmt else None
        return self._numbers[fmt]


def _key_count(columns: Sequence[str]) -> int:
    count = 0
    for column in columns:
        if column not in KEY_COLUMNS:
            break
        count += 1
    return count


def write_table_sheet(book: Workbook, formats: _Formats, name: str, frame: pd.DataFrame) -> None:
    sheet = book.add_worksheet(name[:31])
    columns = [str(c) for c in frame.columns]
    for col, column in enumerate(columns):
        sheet.write_string(0, col, column, formats.header)
        width = min(MAX_WIDTH, max(10, len(column) + 2))
        sheet.set_column(col, col, width, formats.number(number_format(column)))
    cell_formats = [formats.number(number_format(c)) for c in columns]
    for row, values in enumerate(frame.astype(object).itertuples(index=False, name=None), start=1):
        for col, value in enumerate(values):
            _write(sheet, row, col, value, cell_formats[col])
    sheet.freeze_panes(1, _key_count(columns))
    if len(frame):
        sheet.autofilter(0, 0, len(frame), max(0, len(columns) - 1))


def write_summary_sheet(book: Workbook, formats: _Formats, name: str, title: str, meta: list[str],
                        blocks: list[Block]) -> None:
    sheet = book.add_worksheet(name)
    sheet.write_string(0, 0, title, formats.title)
    row = 1
    for line in meta:
        sheet.write_string(row, 0, line)
        row += 1
    widths: dict[int, int] = {}
    for block in blocks:
        row += 1
        sheet.write_string(row, 0, block.title, formats.title)
        row += 1
        for col, header in enumerate(block.header):
            sheet.write_string(row, col, header, formats.header)
            widths[col] = max(widths.get(col, 10), min(MAX_WIDTH, len(header) + 2))
        for values in block.rows:  # the widest text of a column sets its width too
            for col, value in enumerate(values):
                if isinstance(value, str):
                    widths[col] = max(widths.get(col, 10), min(MAX_WIDTH, len(value) + 2))
        row += 1
        for index, values in enumerate(block.rows):
            for col, value in enumerate(values):
                if block.row_formats is not None:
                    fmt = block.row_formats[index] if col else None
                else:
                    fmt = block.formats[col] if col < len(block.formats) else None
                _write(sheet, row, col, value, formats.number(fmt))
            row += 1
    for col, width in widths.items():
        sheet.set_column(col, col, width)


def workbook_bytes(title: str, meta: list[str], blocks: list[Block],
                   sheets: list[tuple[str, pd.DataFrame]], front: str = "summary") -> bytes:
    """The workbook: the front sheet (``blocks``), then ``sheets`` (name, table) in order."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"title": title, "author": "capalloc", "created": FIXED_DATE})
    formats = _Formats(book)
    write_summary_sheet(book, formats, front, title, meta, blocks)
    for name, frame in sheets:
        write_table_sheet(book, formats, name, frame)
    book.close()
    return buffer.getvalue()
