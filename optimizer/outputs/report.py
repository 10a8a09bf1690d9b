"""What a planner reads on the terminal: live solver progress and the ten-second summary."""

from __future__ import annotations

import os
import threading
import time

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from capalloc.optimizer.solving.solve import Progress


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1e9:
        return f"{sign}${value / 1e9:,.3f}B"
    if value >= 1e6:
        return f"{sign}${value / 1e6:,.1f}M"
    return f"{sign}${value:,.0f}"


class ProgressDisplay:
    """A one-line live view of HiGHS: elapsed time, incumbent, bound, gap, nodes.

    HiGHS and Pyomo capture the process's stdout and stderr while solving, so the display
    writes to its own duplicate of the terminal's stderr.
    """

    def __init__(self) -> None:
        self._latest: Progress | None = None
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._live: Live | None = None
        self._stream = None

    def start(self) -> None:
        self._stream = os.fdopen(os.dup(2), "w", buffering=1)
        console = Console(file=self._stream, stderr=False)
        if not console.is_terminal:
            return
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=True,
                          get_renderable=self._render)
        self._live.start()

    def update(self, progress: Progress) -> None:
        with self._lock:
            self._latest = progress

    def _render(self) -> Text:
        elapsed = time.perf_counter() - self._started
        with self._lock:
            p = self._latest
        if p is None:
            return Text(f"building and solving ... {elapsed:5.1f} s", style="cyan")
        gap = f"{p.gap * 100:.3f}%" if p.gap is not None else "-"
        return Text(
            f"HiGHS {elapsed:6.1f} s | plan {usd(p.incumbent_usd)} | bound {usd(p.bound_usd)} "
            f"| gap {gap} | nodes {p.nodes}",
            style="cyan",
        )

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
        if self._stream is not None:
            self._stream.close()


def print_summary(console: Console, outcome) -> None:
    plan = outcome.result.plan
    stats = plan.solver
    kpi = plan.kpis[0]
    gap = f"{stats.gap_pct:.3f}%" if stats.gap_pct is not None else "-"
    status = {"optimal": "[green]optimal[/]", "interrupted": "[yellow]interrupted[/]"}.get(
        stats.status, "[yellow]time limit[/]")
    console.print(
        f"[bold]{plan.provenance.instance_name}[/]: NPV [bold]{usd(plan.npv_usd)}[/]  "
        f"({status}, gap {gap}, HiGHS {outcome.highs_seconds:.1f} s, "
        f"total {sum(outcome.timings.values()):.1f} s)"
    )
    if plan.audit is not None:
        verdict = "[green]passed[/]" if plan.audit.passed else "[red]FAILED[/]"
        console.print(f"audit {verdict}: recomputed NPV {usd(plan.audit.npv_usd)}")

    leases = Table(title="Lease signings", title_justify="left", show_edge=False)
    for column in ("site", "phase", "IT MW", "signed", "rent starts", "capex"):
        leases.add_column(column, justify="right" if column in ("IT MW", "capex") else "left")
    for s in sorted(plan.decisions.signings, key=lambda s: (s.signing_month, s.site, s.phase)):
        leases.add_row(s.site, s.phase, f"{s.critical_it_mw:,.0f}", s.signing_month,
                       s.rent_start_month, usd(s.capex_usd))
    if not plan.decisions.signings:
        leases.add_row("(none)", "", "", "", "", "")
    console.print(leases)

    years = Table(title=f"By year (scenario {kpi.scenario})", title_justify="left", show_edge=False)
    for column in ("year", "AI IT MW online (Dec)", "EH/s (avg)"):
        years.add_column(column, justify="right")
    for year, ai_mw in kpi.ai_mw_online_by_year.items():
        years.add_row(year, f"{ai_mw:,.0f}", f"{kpi.hashrate_ehs_by_year[year]:,.1f}")
    console.print(years)
    _print_fleet(console, plan, kpi)
    console.print(
        f"minimum cash {usd(kpi.minimum_cash_usd)} ({kpi.minimum_cash_month}) | "
        f"peak debt {usd(kpi.peak_debt_usd)} ({kpi.peak_debt_month}) | "
        f"capex {usd(kpi.total_capex_usd)} | terminal value {usd(kpi.terminal_value_usd)}"
    )
    if plan.tree is not None:  # scenario trees (issue 15)
        from capalloc.optimizer.scenario_tree.summary import print_tree_summary

        print_tree_summary(console, plan, usd)
    if outcome.out_dir is not None:
        console.print(f"plan written to {outcome.out_dir}/")


def _print_fleet(console: Console, plan, kpi) -> None:
    """Orders, sales and halls (issue 13), and the new cash lines where they are not zero."""
    months = plan.months
    if plan.decisions.fleet or plan.decisions.halls:
        table = Table(title="Fleet and mining halls", title_justify="left", show_edge=False)
        for column in ("generation / site", "ordered MW", "first order", "sold MW", "last sale",
                       "owned at end MW"):
            table.add_column(column, justify="left" if column in ("generation / site", "first order",
                                                                   "last sale") else "right")
        for f in plan.decisions.fleet:
            orders = [months[t] for t, mw in enumerate(f.ordered_mw) if mw > 1e-6]
            sales = [months[t] for t, mw in enumerate(f.sold_mw) if mw > 1e-6]
            table.add_row(f.generation, f"{sum(f.ordered_mw):,.1f}", orders[0] if orders else "-",
                          f"{sum(f.sold_mw):,.1f}", sales[-1] if sales else "-",
                          f"{f.owned_mw[-1] - f.sold_mw[-1]:,.1f}")
        for h in plan.decisions.halls:
            built = [months[t] for t, mw in enumerate(h.built_mw) if mw > 1e-6]
            table.add_row(f"{h.site} (halls)", f"{sum(h.built_mw):,.1f}", built[0] if built else "-",
                          "", "", f"{h.online_mw[-1]:,.1f}")
        console.print(table)
    parts = [("ASIC purchases", kpi.fleet_purchases_usd), ("ASIC resale", kpi.fleet_resale_usd),
             ("curtailment credits", kpi.curtailment_credits_usd),
             ("fixed power charges", kpi.fixed_power_charges_usd),
             ("mining halls", kpi.mining_hall_capex_usd), ("taxes paid", kpi.taxes_paid_usd),
             ("least covenant headroom", kpi.minimum_covenant_headroom_usd),
             ("BTC loan interest", kpi.btc_loan_interest_usd)]
    shown = [f"{name} {usd(value)}" for name, value in parts if value]
    if shown:
        console.print(" | ".join(shown))
    used = financing_used(plan)
    if used:
        console.print("financing used: " + " | ".join(used), highlight=False)
    leverage = [f"{name} {value:,.2f}x" for name, value in (
        ("interest cover", kpi.interest_cover_x), ("peak net leverage", kpi.net_leverage_peak_x),
        ("final net leverage", kpi.net_leverage_final_x)) if value is not None]
    if leverage:
        console.print(" | ".join(leverage), highlight=False)


def financing_used(plan) -> list[str]:
    """The optional instruments the plan drew on (first scenario's KPIs for the scenario-wise
    ones), each with its size and first month: what a planner asks of a refinancing plan."""
    months, kpi = plan.months, plan.kpis[0]
    used = []
    for notes in plan.decisions.notes:
        issued = [t for t, usd_issued in enumerate(notes.issued_usd) if usd_issued > 0.005]
        if issued:
            used.append(f"notes {notes.program} {usd(sum(notes.issued_usd))} issued "
                        f"(first {months[issued[0]]})")
    if kpi.btc_loan_peak_usd > 0.005:
        used.append(f"BTC-backed loan peak {usd(kpi.btc_loan_peak_usd)} "
                    f"({kpi.btc_pledged_peak_btc:,.0f} BTC pledged at most)")
    if kpi.equity_raised_usd > 0.005:
        used.append(f"equity raised {usd(kpi.equity_raised_usd)} "
                    f"(dilution cost {usd(kpi.dilution_cost_usd)})")
    elif kpi.dilution_cost_usd > 0.005:
        used.append(f"conversions (dilution cost {usd(kpi.dilution_cost_usd)})")
    return used


def print_comparison(console: Console, comparison, name_a: str, name_b: str) -> None:
    verdict = "[red]differ[/]" if comparison.differs else "[green]match[/]"
    console.print(
        f"A = {name_a}\nB = {name_b}\nplans {verdict}: NPV {usd(comparison.objective_a)} -> "
        f"{usd(comparison.objective_b)} (relative difference {comparison.objective_rel_diff:.3g}, "
        f"tolerance {comparison.rel_tol:.3g})", highlight=False,
    )
    if comparison.kpis:
        table = Table(title="KPIs", title_justify="left", show_edge=False)
        for column in ("scenario", "kpi", "A", "B", "B - A"):
            table.add_column(column, justify="left" if column in ("scenario", "kpi") else "right")
        for k in comparison.kpis:
            fmt = (lambda v: f"{v:,.4f}") if k.name.endswith("_btc") else usd
            table.add_row(k.scenario, k.name, fmt(k.a), fmt(k.b), fmt(k.delta))
        console.print(table)
    if comparison.signings:
        table = Table(title="Lease signings", title_justify="left", show_edge=False)
        for column in ("site", "phase", "change", "A", "B", "shift (months)"):
            table.add_column(column)
        for s in comparison.signings:
            table.add_row(s.site, s.phase, s.change, s.month_a or "-", s.month_b or "-",
                          f"{s.shift_months:+d}" if s.shift_months is not None else "")
        console.print(table)
    if comparison.mw:
        table = Table(title="MW by site and year", title_justify="left", show_edge=False)
        for column in ("scenario", "site", "year", "measure", "A", "B"):
            table.add_column(column, justify="right" if column in ("A", "B") else "left")
        for m in comparison.mw:
            table.add_row(m.scenario, m.site, m.year, m.measure, f"{m.a:,.1f}", f"{m.b:,.1f}")
        console.print(table)
