"""The audit of commitments: every pinned decision holds in the plan's decisions, read from
the instance's commitments section and plan.json alone (no formulation code)."""

from __future__ import annotations

from capalloc.models.common import month_ordinal
from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.checks.audit_rules import MW_TOL, USD_TOL, Violation


def check_commitments(instance: Instance, plan: Plan) -> list[Violation]:
    c = instance.commitments
    if c is None:
        return []
    out: list[Violation] = []
    signed = {(s.site, s.phase): month_ordinal(s.signing_month) for s in plan.decisions.signings}
    out += _signings(instance, signed)
    start, T = month_ordinal(instance.start), instance.horizon_months
    d = plan.decisions

    def series(rows, key: str, name: str) -> dict[str, list[float]]:
        return {getattr(r, key): getattr(r, name) for r in rows}

    kinds = [
        ("fleet_orders", series(d.fleet, "generation", "ordered_mw"), "generation", "mw", MW_TOL,
         "MW ordered"),
        ("fleet_sales", series(d.fleet, "generation", "sold_mw"), "generation", "mw", MW_TOL, "MW sold"),
        ("hall_builds", series(d.halls, "site", "built_mw"), "site", "mw", MW_TOL, "hall MW built"),
        ("notes_issued", series(d.notes, "program", "issued_usd"), "program", "usd", USD_TOL, "USD issued"),
        ("equity_issued", {"": d.equity_issued_usd}, None, "usd", USD_TOL, "USD of equity raised"),
    ]
    for kind, planned, key, size, tol, what in kinds:
        pinned = {((getattr(x, key) if key else ""), month_ordinal(x.month) - start): getattr(x, size)
                  for x in getattr(c, kind)}
        for item in sorted(set(planned) | {k for k, _ in pinned}):
            values = planned.get(item, [])
            for t in range(T):
                got = values[t] if t < len(values) else 0.0
                want = pinned.get((item, t))
                if want is None and c.unlisted == "free":
                    continue
                want = 0.0 if want is None else want
                if abs(got - want) > tol * max(1.0, abs(want) * 1e-9):
                    month = plan.months[t] if t < len(plan.months) else None
                    out.append(Violation("commitment", None, key and item or None, None, month,
                                         abs(got - want), f"commitments.{kind}: {want:,.6g} {what} "
                                         f"committed, the plan has {got:,.6g}"))
    return out


def _signings(instance: Instance, signed: dict[tuple[str, str], int]) -> list[Violation]:
    c = instance.commitments
    out: list[Violation] = []
    listed = set()
    for s in c.signings:
        listed.add((s.site, s.phase))
        got = signed.get((s.site, s.phase))
        broken = []
        if s.never and got is not None:
            broken.append("never to be signed")
        if s.in_month is not None and got != month_ordinal(s.in_month):
            broken.append(f"to be signed in {s.in_month}")
        if s.by_month is not None and (got is None or got > month_ordinal(s.by_month)):
            broken.append(f"to be signed by {s.by_month}")
        if s.not_before_month is not None and got is not None and got < month_ordinal(s.not_before_month):
            broken.append(f"not to be signed before {s.not_before_month}")
        for rule in broken:
            out.append(Violation("commitment", None, s.site, s.phase, None, 1.0,
                                 f"commitments.signings: committed {rule}, the plan "
                                 f"{'does not sign it' if got is None else 'signs it in another month'}"))
    if c.unlisted == "none":
        for key in sorted(set(signed) - listed):
            out.append(Violation("commitment", None, key[0], key[1], None, 1.0,
                                 "commitments.unlisted is none, yet the plan signs a phase not listed"))
    return out
