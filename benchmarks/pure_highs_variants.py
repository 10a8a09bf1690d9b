"""HiGHS alone on cleanspark_2026's model, in variants (issue 17, third pass): one line each,
CPU seconds, objective, bound, gap, nodes and nonzeros. Not a test; nothing is asserted.

Usage: ``python -m benchmarks.pure_highs_variants [flat] [nothing] [opt=NAME:VALUE ...]``

- ``flat``: the phases' project-debt interest convolved into every income row, as before the
  third pass (ai_phases.PHASE_INTEREST_RECURSION off); default: the recursion, as shipped;
- ``nothing``: the plan that signs nothing handed to HiGHS as a MIP start;
- ``opt=``: a HiGHS option besides the instance's (true/false, integers, floats, strings).

HiGHS's log goes to ``pure-<variant>.log`` in the folder of ``--logs DIR`` (default: none).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _value(text: str) -> bool | int | float | str:
    if text in ("true", "false"):
        return text == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def main(argv: list[str]) -> int:
    import highspy

    import capalloc.optimizer.formulation.ai_phases as ai_phases
    from capalloc.models.loader import load_instance
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.solving.solve import HighsSession, SolveSettings, no_signing_start

    logs = None
    if "--logs" in argv:
        at = argv.index("--logs")
        logs, argv = Path(argv[at + 1]), argv[:at] + argv[at + 2:]
    ai_phases.PHASE_INTEREST_RECURSION = "flat" not in argv
    instance = load_instance(REPO / "instances" / "cleanspark_2026.yaml")
    settings = SolveSettings.from_instance(instance)
    lp = HighsSession(build_model(instance)).highs.getLp()
    highs = highspy.Highs()
    for name, value in settings.highs_option_values().items():
        highs.setOptionValue(name, value)
    for arg in argv:
        if arg.startswith("opt="):
            name, value = arg[4:].split(":", 1)
            highs.setOptionValue(name, _value(value))
    variant = "_".join(argv) or "shipped"
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        highs.setOptionValue("log_file", str(logs / f"pure-{variant.replace(':', '_')}.log"))
    highs.setOptionValue("log_to_console", False)
    highs.passModel(lp)
    if "nothing" in argv:
        highs.setSolution(no_signing_start(highs, settings.threads))
    started = time.process_time()
    highs.run()
    info = highs.getInfo()
    print(variant, "cpu", round(time.process_time() - started, 1), "obj", info.objective_function_value,
          "bound", info.mip_dual_bound, "gap", info.mip_gap, "nodes", info.mip_node_count,
          "nnz", highs.getNumNz(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
