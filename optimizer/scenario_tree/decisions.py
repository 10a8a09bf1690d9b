"""A tree plan's decisions: merged from each scenario's flat decisions (a decision holds in
the scenarios listed, None: every one), and taken apart again into each scenario's own plan
(for the audit and for readers of one scenario). Pure: no Pyomo, no formulation."""

from __future__ import annotations

from capalloc.models.instance import Instance
from capalloc.models.plan import Decisions, Plan, TreeScenario, TreeSummary
from capalloc.optimizer.scenario_tree import risk, split


def _grouped(records_by_scenario: dict[str, list], names: list[str]) -> list:
    """Records equal but for their scenario, once each, with the scenarios they hold in
    (None: every scenario)."""
    found: dict[str, tuple] = {}
    for w in names:
        for record in records_by_scenario[w]:
            key = record.model_copy(update={"scenarios": None}).model_dump_json()
            if key not in found:
                found[key] = (record, [])
            found[key][1].append(w)
    out = []
    for record, holders in found.values():
        out.append(record.model_copy(update={"scenarios": None if holders == names else holders}))
    return out


def merge_decisions(parts: dict[str, Decisions], names: list[str]) -> Decisions:
    signings = _grouped({w: parts[w].signings for w in names}, names)
    signings.sort(key=lambda s: (s.signing_month, 0 if s.scenarios is None else 1))
    equity = {w: parts[w].equity_issued_usd for w in names}
    common_equity = all(equity[w] == equity[names[0]] for w in names)
    return Decisions(
        signings=signings,
        mining=[m for w in names for m in parts[w].mining],
        finance=[f for w in names for f in parts[w].finance],
        fleet=_grouped({w: parts[w].fleet for w in names}, names),
        halls=_grouped({w: parts[w].halls for w in names}, names),
        notes=_grouped({w: parts[w].notes for w in names}, names),
        equity_issued_usd=equity[names[0]] if common_equity else [],
        equity_issued_by_scenario_usd={} if common_equity else equity,
    )


def _holds(record, scenario: str) -> bool:
    return record.scenarios is None or scenario in record.scenarios


def scenario_decisions(decisions: Decisions, scenario: str) -> Decisions:
    """The decisions of one scenario of a tree plan, as a flat plan of that scenario has them."""
    def own(records: list) -> list:
        return [r.model_copy(update={"scenarios": None}) for r in records if _holds(r, scenario)]

    return Decisions(
        signings=own(decisions.signings),
        mining=[m for m in decisions.mining if m.scenario == scenario],
        finance=[f for f in decisions.finance if f.scenario == scenario],
        fleet=own(decisions.fleet), halls=own(decisions.halls), notes=own(decisions.notes),
        equity_issued_usd=decisions.equity_issued_by_scenario_usd.get(scenario, decisions.equity_issued_usd),
    )


def scenario_plan(plan: Plan, scenario: str) -> Plan:
    """One scenario's own plan, valued alone (its NPV is the plan's objective)."""
    kpis = [k.model_copy(update={"probability": 1.0}) for k in plan.kpis if k.scenario == scenario]
    npv = kpis[0].npv_usd if kpis else 0.0
    return plan.model_copy(update={
        "decisions": scenario_decisions(plan.decisions, scenario), "kpis": kpis, "npv_usd": npv,
        "provenance": plan.provenance.model_copy(update={"scenarios": [scenario]}),
        "solver": plan.solver.model_copy(update={"objective_usd": npv}), "tree": None, "audit": None,
    })


def tree_summary(instance: Instance, npv: dict[str, float]) -> TreeSummary:
    names = split.scenario_names(instance)
    p = split.probabilities(instance)
    values, weights = [npv[w] for w in names], [p[w] for w in names]
    weight = instance.risk.cvar_weight if instance.risk is not None else 0.0
    alpha = instance.risk.cvar_alpha if instance.risk is not None else 0.8
    return TreeSummary(
        branching_months=list(instance.market.branching_months),
        scenarios=[TreeScenario(scenario=s.name, probability=s.probability, tree_path=list(s.tree_path),
                                npv_usd=npv[s.name]) for s in instance.market.scenarios],
        expected_npv_usd=round(risk.expected(values, weights), 2),
        cvar_alpha=alpha, cvar_weight=weight, cvar_usd=round(risk.cvar(values, weights, alpha), 2),
        objective_usd=round(risk.risk_objective(values, weights, weight, alpha), 2),
        npv_percentiles_usd={f"p{q}": risk.percentile(values, weights, q) for q in risk.PERCENTILES},
    )
