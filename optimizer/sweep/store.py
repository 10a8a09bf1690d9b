"""The results store of a sweep: a manifest, one part file per finished point, results.csv.

Layout of the output folder::

    .capalloc              capalloc's marker (optimizer/outputs/output_dir.py), written once the
                           folder is accepted
    manifest.json          what the sweep is (spec and base instance hashes, every point)
    parts/<point_id>.json  one finished point's row, written atomically (temp file + rename)
    results.csv            all finished rows, sorted by point id (rewritten at the end)

A part file appears whole or not at all, so killing the sweep at any moment loses no finished
point and leaves nothing corrupt; ``--resume`` re-reads the parts, ignores and removes stray
temp files, re-runs any point whose part cannot be read, and skips the rest.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from capalloc.models.loader import Problem
from capalloc.models.sweep import SweepSpecError
from capalloc.optimizer import __version__
from capalloc.optimizer.outputs.output_dir import META
from capalloc.optimizer.sweep.worker import TIMING_COLUMNS

FORMAT = "capalloc-sweep/1"
PARTS = "parts"
TMP_MARK = ".tmp-"


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that it exists whole or not at all (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TMP_MARK}{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def csv_text(records: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(c)) for c in columns])
    return buffer.getvalue()


def ordered_columns(records: list[dict[str, Any]]) -> list[str]:
    """Columns in order of first appearance (records sorted by point id), timings last."""
    columns: list[str] = []
    seen: set[str] = set()
    for record in records:
        for key in record:
            if key not in seen and key not in TIMING_COLUMNS:
                seen.add(key)
                columns.append(key)
    return columns + list(TIMING_COLUMNS)


class ResultStore:
    """The folder a sweep writes into."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.parts = self.dir / PARTS
        self.manifest_path = self.dir / "manifest.json"

    def open(self, expansion: Any, spec_path: Path, resume: bool) -> set[str]:
        """Create the folder (or check it holds this very sweep when resuming); the ids done."""
        manifest = {
            "format": FORMAT,
            "capalloc_version": __version__,
            "spec_file": str(spec_path),
            "spec": expansion.spec.model_dump(mode="json"),
            "base_instance": str(expansion.base_path),
            "base_sha256": expansion.base_sha256,
            "sweep_sha256": expansion.sweep_sha256,
            "design": expansion.spec.design,
            "parameters": [p.label for p in expansion.spec.parameters],
            "points": [{"point_id": p.point_id, "params": p.params} for p in expansion.points],
        }
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = {}
            if not resume:
                raise SweepSpecError(str(self.dir), [Problem(
                    "-o", "the output folder already holds a sweep",
                    "pass --resume to continue it, or choose another folder")])
            if old.get("sweep_sha256") != expansion.sweep_sha256:
                raise SweepSpecError(str(self.dir), [Problem(
                    "--resume", "the output folder holds a different sweep (the spec or the base "
                    "instance changed since it started)", "choose another folder")])
        elif self.dir.is_dir() and any(
            TMP_MARK not in p.name and p.name != PARTS and p.name not in META for p in self.dir.iterdir()
        ):
            raise SweepSpecError(str(self.dir), [Problem(
                "-o", "the output folder is not empty and holds no sweep",
                "choose a new or empty folder")])
        atomic_write(self.manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        self.parts.mkdir(parents=True, exist_ok=True)
        wanted = {p.point_id for p in expansion.points}
        return set(self._finished(wanted))

    def _finished(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        for file in sorted(self.parts.iterdir()):
            if TMP_MARK in file.name:
                file.unlink(missing_ok=True)  # a write cut short: the point reruns
                continue
            if file.suffix != ".json" or file.stem not in wanted:
                continue
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
                if record.get("point_id") != file.stem:
                    raise ValueError("point id mismatch")
            except (OSError, ValueError):
                file.unlink(missing_ok=True)
                continue
            done[file.stem] = record
        return done

    def write(self, record: dict[str, Any]) -> None:
        """Store one finished point (atomic)."""
        clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v
                 for k, v in record.items()}
        atomic_write(self.parts / f"{record['point_id']}.json",
                     json.dumps(clean, allow_nan=False) + "\n")

    def records(self) -> list[dict[str, Any]]:
        """Every finished point's row, sorted by point id."""
        manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        wanted = {p["point_id"] for p in manifest["points"]}
        done = self._finished(wanted)
        return [done[k] for k in sorted(done)]

    def consolidate(self) -> Path:
        """Write results.csv: every finished row sorted by point id, fixed column order."""
        records = self.records()
        path = self.dir / "results.csv"
        atomic_write(path, csv_text(records, ordered_columns(records)))
        return path

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))
