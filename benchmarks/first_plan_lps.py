"""Every LP of cleanspark_2026's first plan, one line each: CPU seconds, simplex iterations,
status (issue 17: a few dive LPs crawl in HiGHS's dual ratio test). No deadline: the dive and
the improvement run their whole LP budgets. Not a test; nothing is asserted.

Usage: ``python -m benchmarks.first_plan_lps [rec] [notb | tb=X] [notax] [opt=NAME:VALUE ...]``
(rec: the phases' interest as formulation.phase_interest's recursion; notb: the tax's
tie-break at 0, tb=X: at X per $M-month; notax: finance.taxes removed; opt=: a HiGHS option
on the dive's LPs).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    import capalloc.optimizer.formulation.ai_phases as ai_phases
    import capalloc.optimizer.formulation.financing.taxes as taxes
    import capalloc.optimizer.solving.first_plan as first_plan
    from capalloc.models.loader import load_instance
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.solving.solve import HighsSession, dive_budget, improve_budget

    ai_phases.PHASE_INTEREST_RECURSION = "rec" in argv
    if "notb" in argv:
        taxes.TIE_BREAK_PER_MODEL_UNIT_MONTH = 0.0
    for arg in argv:
        if arg.startswith("tb="):
            taxes.TIE_BREAK_PER_MODEL_UNIT_MONTH = float(arg[3:])
    instance = load_instance(REPO / "instances" / "cleanspark_2026.yaml")
    if "notax" in argv:
        finance = instance.finance.model_copy(update={"taxes": None})
        instance = instance.model_copy(update={"finance": finance})
    options = [a[4:].split(":", 1) for a in argv if a.startswith("opt=")]
    session = HighsSession(build_model(instance))
    phases = session.phase_columns()
    log: list[tuple[float, int]] = []
    solve, init = first_plan.SigningLp.solve, first_plan.SigningLp.__init__

    def init_with_options(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        for key, value in options:
            self.highs.setOptionValue(key, float(value) if any(c in value for c in ".e") else int(value))

    def counted(self) -> bool:
        started = time.process_time()
        optimal = solve(self)
        iterations = int(self.highs.getInfo().simplex_iteration_count)
        log.append((round(time.process_time() - started, 2), iterations))
        print(len(log), log[-1], self.highs.getModelStatus(), flush=True)
        return optimal

    first_plan.SigningLp.__init__, first_plan.SigningLp.solve = init_with_options, counted
    started = time.process_time()
    found = first_plan.find_first_plan(session.highs.getLp(), phases, 1, dive_budget=dive_budget(len(phases)),
                                       improve_budget=improve_budget(len(phases)))
    print(argv, "cpu", round(time.process_time() - started, 1), "lps", len(log),
          "iterations", sum(i for _, i in log), "value", found.value if found else None)
    print(" slowest:", sorted(log, reverse=True)[:6])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
