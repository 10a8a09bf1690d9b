"""`capalloc report`: report.html and a workbook for a plan directory or a sweep folder.

By default the files go into the folder reported on, which capalloc owns: a plan directory
gets report.html and plan.xlsx (under its lock, in one journaled write; a new solve there
removes them with the plan they describe), a sweep folder report.html and sweep.xlsx. With
``out`` they go into a report folder instead (new, empty or one capalloc wrote a report in)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from capalloc.optimizer.outputs.output_dir import OutputClaim, OutputDirError, check_output, read_marker
from capalloc.optimizer.outputs.plan_io import OWNED_FILES, REPORT_FILES, PlanDirError, open_plan_dir
from capalloc.optimizer.outputs.report_html import plan_meta, plan_report_html
from capalloc.optimizer.outputs.report_sweep import (
    SweepDirError,
    SweepTables,
    open_sweep_dir,
    sweep_meta,
    sweep_report_html,
)
from capalloc.optimizer.outputs.report_tables import (
    KPI_ROWS,
    SIGNING_COLUMNS,
    YEARLY_COLUMNS,
    PlanTables,
    kpi_table,
    read_plan_tables,
    signings_table,
    yearly_kpis,
)
from capalloc.optimizer.outputs.report_xlsx import Block, number_format, workbook_bytes
from capalloc.optimizer.sweep.store import TMP_MARK

SWEEP_REPORT_FILES = ("report.html", "sweep.xlsx")
OUT_FILES = (*REPORT_FILES, *SWEEP_REPORT_FILES)
"""What a report folder (``-o``) may hold."""


class ReportInputError(Exception):
    """The folder given to `capalloc report` cannot be reported on; the message says why."""


@dataclass(frozen=True)
class Written:
    kind: str  # "plan" or "sweep"
    folder: Path
    files: list[Path]


def sheet_names(names: list[str], front: str = "summary") -> list[str]:
    """Excel sheet names: at most 31 characters, unique, the front sheet's name kept free."""
    used = {front}
    out = []
    for name in names:
        candidate, n = name[:31], 2
        while candidate in used:
            suffix = f"~{n}"
            candidate, n = name[: 31 - len(suffix)] + suffix, n + 1
        used.add(candidate)
        out.append(candidate)
    return out


def _formats(headers: list[str]) -> list[str | None]:
    return [number_format(h) for h in headers]


def plan_workbook(tables: PlanTables) -> bytes:
    """plan.xlsx: the summary (scenario KPIs, signings, yearly KPIs), then every CSV."""
    kpis = kpi_table(tables.plan)
    kpi_rows = [[label, *[kpis.iloc[i][s] for s in tables.scenarios]]
                for i, label in enumerate(KPI_ROWS.values())]
    # One column holds many units: each row's number format follows its KPI's unit.
    kpi_block = Block("Scenario KPIs", ["kpi", *tables.scenarios], kpi_rows,
                      row_formats=[number_format(f) for f in KPI_ROWS])
    signings = signings_table(tables.plan)
    sign_block = Block("Signings", list(SIGNING_COLUMNS), signings.astype(object).values.tolist(),
                       _formats(list(SIGNING_COLUMNS)))
    yearly = yearly_kpis(tables)
    year_block = Block("Yearly KPIs", list(YEARLY_COLUMNS), yearly.astype(object).values.tolist(),
                       _formats(list(YEARLY_COLUMNS)))
    names = list(tables.tables)
    sheets = list(zip(sheet_names(names), tables.tables.values(), strict=True))
    title = f"capalloc plan: {tables.plan.provenance.instance_name}"
    return workbook_bytes(title, plan_meta(tables), [kpi_block, sign_block, year_block], sheets)


def sweep_workbook(tables: SweepTables) -> bytes:
    """sweep.xlsx: an overview (what was swept), then every CSV (summary.csv among them)."""
    names = list(tables.tables)
    sheets = list(zip(sheet_names(names, "overview"), tables.tables.values(), strict=True))
    return workbook_bytes(f"capalloc sweep: {tables.path.name}", sweep_meta(tables), [], sheets, "overview")


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def open_source(folder: str | Path) -> PlanTables | SweepTables:
    """The plan directory or finished sweep folder to report on, read back; ReportInputError
    when it is neither (of this capalloc)."""
    path = Path(folder)
    try:
        kind = read_marker(path) if path.is_dir() else None
    except OutputDirError as error:
        raise ReportInputError(str(error)) from None
    try:
        if kind == "sweep":
            return open_sweep_dir(path)
        return read_plan_tables(open_plan_dir(path))
    except (SweepDirError, PlanDirError) as error:
        raise ReportInputError(str(error)) from None


def build_report(source: PlanTables | SweepTables) -> dict[str, str | bytes]:
    """The report's files by name (pure: writes nothing)."""
    if isinstance(source, SweepTables):
        return {"report.html": sweep_report_html(source), "sweep.xlsx": sweep_workbook(source)}
    return {"report.html": plan_report_html(source), "plan.xlsx": plan_workbook(source)}


def write_report(folder: str | Path, out: str | Path | None = None) -> Written:
    """Write the report of a plan directory or a sweep folder; returns what was written.

    Raises ReportInputError (the folder cannot be read as a plan or a sweep of this capalloc)
    or OutputDirError (``out`` may not be written, or the folder is being written); nothing
    is written then. Into the folder itself, the report is read and written under the
    folder's lock, so that a solve or sweep cannot replace what it describes meanwhile."""
    path = Path(folder)
    target = None if out is None or _same_folder(Path(out), path) else Path(out)
    if target is not None:
        check_output(target, "report", OUT_FILES)  # refuse a bad -o before any work
        source = open_source(path)
        files = build_report(source)
        with OutputClaim(target, "report", OUT_FILES) as claim:
            claim.commit(files)
        return Written(_kind(source), target, [target / name for name in sorted(files)])
    source = open_source(path)  # a folder to report on, checked before it is locked
    if isinstance(source, SweepTables):
        with OutputClaim(path, "sweep", None):
            files = build_report(open_source(path))
            _write_into_sweep(path, files)
    else:
        with OutputClaim(path, "plan", OWNED_FILES) as claim:
            source = open_source(path)
            files = build_report(source)
            claim.commit(files, keep_others=True)  # one journaled write; the plan stays
    return Written(_kind(source), path, [path / name for name in sorted(files)])


def _kind(source: PlanTables | SweepTables) -> str:
    return "sweep" if isinstance(source, SweepTables) else "plan"


def _write_into_sweep(path: Path, files: dict[str, str | bytes]) -> None:
    """Each file whole or not at all (temp file and rename; a sweep ignores its temp files)."""
    for name, content in sorted(files.items()):
        data = content.encode("utf-8") if isinstance(content, str) else content
        tmp = path / f".{name}{TMP_MARK}{os.getpid()}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path / name)
