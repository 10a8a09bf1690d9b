"""The terminal summary of a tree plan: which leases are signed now (at the root) and which
wait for which branch, and the distribution of NPVs with CVaR, VSS and EVPI."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from capalloc.models.plan import Plan, Signing


def decided_at(plan: Plan, month: str, scenarios: list[str] | None) -> str:
    """Where in the tree a signing of ``month`` held in ``scenarios`` (None: all) is decided:
    'now (root)' before the first branching month, else the branch its scenarios share at
    that month (their common labels, '*' where they differ)."""
    tree = plan.tree
    branching = tree.branching_months if tree is not None else []
    names = [s.scenario for s in tree.scenarios] if tree is not None else []
    everywhere = scenarios is None or sorted(scenarios) == sorted(names)
    if not branching or month < branching[0]:
        return "now (root)" if everywhere else "root (some scenarios)"
    if everywhere:
        return "every branch"
    paths = {s.scenario: s.tree_path for s in tree.scenarios}
    labels = []
    for i, branch in enumerate(branching):
        if branch > month:
            break
        seen = {paths[w][i] for w in scenarios}
        labels.append(seen.pop() if len(seen) == 1 else "*")
    return "branch " + "/".join(labels)


def signing_decisions(plan: Plan) -> list[tuple[Signing, list[str] | None, list[str]]]:
    """One row per decision (site, phase, signing month) with the scenarios it holds in (None:
    all) and its rent starts: a lead time that differs by scenario splits one signing into
    records that differ only in their rent start."""
    names = [k.scenario for k in plan.kpis]
    rows: dict[tuple[str, str, str], tuple[Signing, list[str], list[str]]] = {}
    for s in plan.decisions.signings:
        key = (s.site, s.phase, s.signing_month)
        first, holders, starts = rows.setdefault(key, (s, [], []))
        holders.extend(names if s.scenarios is None else s.scenarios)
        if s.rent_start_month not in starts:
            starts.append(s.rent_start_month)
    out = []
    for first, holders, starts in rows.values():
        ordered = [w for w in names if w in holders]
        out.append((first, None if ordered == names else ordered, sorted(starts)))
    return out


def print_tree_summary(console: Console, plan: Plan, usd) -> None:
    tree = plan.tree
    if tree is None:
        return
    table = Table(title="Signings in the tree", title_justify="left", show_edge=False)
    for column in ("site", "phase", "signed", "decided", "rent starts", "scenarios"):
        table.add_column(column)
    for s, scenarios, starts in signing_decisions(plan):
        table.add_row(s.site, s.phase, s.signing_month, decided_at(plan, s.signing_month, scenarios),
                      " / ".join(starts), "all" if scenarios is None else ", ".join(scenarios))
    if not plan.decisions.signings:
        table.add_row("(none)", "", "", "", "", "")
    console.print(table)
    npvs = Table(title="NPV by scenario", title_justify="left", show_edge=False)
    for column in ("scenario", "path", "probability", "NPV"):
        npvs.add_column(column, justify="right" if column in ("probability", "NPV") else "left")
    for s in tree.scenarios:
        npvs.add_row(s.scenario, "/".join(s.tree_path) or "-", f"{s.probability:.3g}", usd(s.npv_usd))
    console.print(npvs)
    p = tree.npv_percentiles_usd
    cvar = f"CVaR {tree.cvar_alpha:g}: {usd(tree.cvar_usd)}"
    console.print(f"expected NPV {usd(tree.expected_npv_usd)} | {cvar} "
                  f"| p5 {usd(p['p5'])} p50 {usd(p['p50'])} p95 {usd(p['p95'])} | objective "
                  f"{usd(tree.objective_usd)} (CVaR weight {tree.cvar_weight:g})", highlight=False)
    info = tree.value_of_information
    if info is not None:
        vss = usd(info.vss_usd) if info.vss_usd is not None else "unbounded"
        console.print(f"VSS {vss} | EVPI {usd(info.evpi_usd)} (wait-and-see {usd(info.wait_and_see_usd)})",
                      highlight=False)
        for note in info.notes:
            console.print(f"  note: {note}", highlight=False, markup=False)
