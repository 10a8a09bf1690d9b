"""Side-by-side timing of `capalloc solve` under several highspy versions or HiGHS options.

    python -m benchmarks.highs_versions --runs 7 \\
        hs115=/work/venvs/hs115 hs116=/work/venvs/hs116 \\
        'hs116-rens-off=/work/venvs/hs116:{"mip_heuristic_run_rens": false}'

Each variant is LABEL=VENV[:OPTIONS]: a virtual environment holding capalloc (``pip install -e
.``) and the highspy version under test, and optionally HiGHS options (JSON) added to the
instance's ``solver.highs_options``. Runs alternate between the variants (round robin), so
that load from other work on a shared machine falls on all of them alike; medians and ranges
are printed as a Markdown table. Every run also writes HiGHS's log (``--keep`` keeps them).
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Variant:
    label: str
    venv: Path
    options: dict[str, bool | int | float | str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    npv: set[float] = field(default_factory=set)


def parse_variant(text: str) -> Variant:
    label, _, rest = text.partition("=")
    venv, _, options = rest.partition(":")
    if not label or not venv:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=VENV[:JSON options]")
    return Variant(label, Path(venv), json.loads(options) if options else {})


def instance_copy(instance: Path, folder: Path, variant: Variant, log: Path) -> Path:
    """The instance (and its folder, for CSVs) copied into ``folder`` with the variant's options."""
    shutil.copytree(instance.parent, folder, dirs_exist_ok=True)
    data = yaml.safe_load(instance.read_text())
    solver = data.setdefault("solver", {})
    solver["highs_options"] = {**solver.get("highs_options", {}), **variant.options, "log_file": str(log)}
    copy = folder / f"{instance.stem}.{variant.label}.yaml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(variant: Variant, instance: Path, work: Path, run: int) -> None:
    folder = work / variant.label
    log = work / f"{variant.label}.{run}.highs.log"
    copy = instance_copy(instance, folder, variant, log)
    out = work / f"plan.{variant.label}.{run}"
    cpu_before, started = children_cpu(), time.perf_counter()
    subprocess.run([str(variant.venv / "bin" / "capalloc"), "solve", str(copy), "-q", "-o", str(out)],
                   check=True, capture_output=True)
    variant.wall.append(time.perf_counter() - started)
    variant.cpu.append(children_cpu() - cpu_before)
    variant.highs.append(json.loads((out / "run.json").read_text())["highs_seconds"])
    variant.npv.add(json.loads((out / "plan.json").read_text())["npv_usd"])
    shutil.rmtree(out)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def table(variants: list[Variant]) -> str:
    rows = ["| variant | options | runs | wall s | CPU s | HiGHS s | NPV $ |",
            "|---|---|---|---|---|---|---|"]
    for v in variants:
        npv = ", ".join(f"{x:,.0f}" for x in sorted(v.npv))
        rows.append(f"| {v.label} | {json.dumps(v.options) if v.options else '-'} | {len(v.wall)} | "
                    f"{summary(v.wall)} | {summary(v.cpu)} | {summary(v.highs)} | {npv} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", type=parse_variant, help="LABEL=VENV[:JSON options]")
    parser.add_argument("--instance", type=Path, default=REPO / "instances" / "cleanspark_2026.yaml")
    parser.add_argument("--runs", type=int, default=5, help="runs per variant (alternating)")
    parser.add_argument("--keep", type=Path, help="keep HiGHS's logs in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for run in range(args.runs):
            for variant in args.variants:
                run_once(variant, args.instance.resolve(), work, run)
                print(f"run {run + 1}/{args.runs} {variant.label}: wall {variant.wall[-1]:.2f} s, "
                      f"CPU {variant.cpu[-1]:.2f} s, HiGHS {variant.highs[-1]:.2f} s", flush=True)
    print(table(args.variants))


if __name__ == "__main__":
    main()
