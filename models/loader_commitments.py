"""Cross-field checks of the commitments section: what it names must exist, its months must
lie in the horizon and in the decision's own window, and no two commitments may contradict.

Returns (field path, problem, hint) triples; models.loader turns them into Problems."""

from __future__ import annotations

from collections import defaultdict

from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.models.instance import Instance

Found = tuple[str, str, str]


def _label(instance: Instance, t: int) -> str:
    return ordinal_to_month(month_ordinal(instance.start) + t)


def signing_window(instance: Instance, site_id: str, phase_id: str) -> range:
    """Months (indices) in which a phase may be signed: from its earliest signing month to the
    last month whose rent start falls inside the horizon (formulation.ai_phases)."""
    site = instance.site(site_id)
    phase = next(p for p in site.ai_phases if p.id == phase_id)
    first = 0
    if phase.earliest_signing_month is not None:
        first = max(0, month_ordinal(phase.earliest_signing_month) - month_ordinal(instance.start))
    blocked = {s: [p.id, *later] for s, p, later in instance.phases_over_the_signing_cap()}
    if phase_id in blocked.get(site_id, []):
        return range(0)
    return range(first, instance.horizon_months - phase.lead_time_months)


def commitment_problems(instance: Instance) -> list[Found]:
    found: list[Found] = []
    c = instance.commitments
    if c is None:
        return found
    T = instance.horizon_months
    start = month_ordinal(instance.start)

    def index(path: str, month: str) -> int | None:
        """The month's index, or None after recording that it lies outside the horizon."""
        t = month_ordinal(month) - start
        if not 0 <= t < T:
            found.append((path, f"{month} is outside the horizon ({instance.start} to "
                          f"{_label(instance, T - 1)})", "use a month of the plan"))
            return None
        return t

    found += _signing_problems(instance, index)
    found += _fleet_problems(instance, index)
    found += _hall_problems(instance, index)
    found += _financing_problems(instance, index)
    return found


def _window_text(instance: Instance, window: range) -> str:
    if not window:
        return "it can never be signed (its lead time leaves no month, or it is over the signing cap)"
    return f"its signing window is {_label(instance, window.start)} to {_label(instance, window.stop - 1)}"


def _signing_problems(instance: Instance, index) -> list[Found]:
    found: list[Found] = []
    T = instance.horizon_months
    site_ids = [s.id for s in instance.sites]
    bounds: dict[tuple[str, str], tuple[int | None, int | None, str]] = {}  # (earliest, latest, path)
    for i, s in enumerate(instance.commitments.signings):
        where = f"commitments.signings[{i}]"
        if s.site not in site_ids:
            found.append((f"{where}.site", f"unknown site {s.site!r}", f"use one of {', '.join(site_ids)}"))
            continue
        phases = [p.id for p in instance.site(s.site).ai_phases]
        if s.phase not in phases:
            found.append((f"{where}.phase", f"unknown phase {s.phase!r} of site {s.site}",
                          f"use one of {', '.join(phases) or '(the site has no AI phases)'}"))
            continue
        if (s.site, s.phase) in bounds:
            found.append((where, f"{s.site}/{s.phase} is committed twice (also at "
                          f"{bounds[(s.site, s.phase)][2]})", "merge them into one commitment"))
            continue
        window = signing_window(instance, s.site, s.phase)
        earliest = latest = None
        ok = True
        for name in ("in_month", "by_month", "not_before_month"):
            month = getattr(s, name)
            if month is None:
                continue
            t = index(f"{where}.{name}", month)
            if t is None:
                ok = False
                continue
            if name in ("in_month", "by_month") and (not window or t < window.start):
                ok = False
                found.append((f"{where}.{name}", f"{s.site}/{s.phase} cannot be signed by {month}: "
                              f"{_window_text(instance, window)}", "move the month into the window"))
            elif name == "in_month" and t >= window.stop:
                ok = False
                found.append((f"{where}.in_month", f"{s.site}/{s.phase} cannot be signed in {month}: "
                              f"{_window_text(instance, window)} (rent must start inside the horizon)",
                              "move the month into the window"))
            if name in ("in_month", "not_before_month"):
                earliest = t
            if name in ("in_month", "by_month"):
                latest = t
        if ok and earliest is not None and latest is not None and earliest > latest:
            found.append((f"{where}.by_month", f"is before not_before_month ({s.not_before_month})",
                          "the allowed months must not be empty"))
            ok = False
        if s.never:
            earliest, latest = T, None
        bounds[(s.site, s.phase)] = (earliest, latest, where) if ok else (None, None, where)
    found += _order_problems(instance, bounds)
    found += _cap_problems(instance)
    return found


def _cap_problems(instance: Instance) -> list[Found]:
    """Signings pinned to months of one calendar year may not add up to more than the
    yearly signing cap (signing_cap_mw_per_year)."""
    cap = instance.signing_cap_mw_per_year
    if cap is None:
        return []
    by_year: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, s in enumerate(instance.commitments.signings):
        if s.in_month is None or s.site not in {x.id for x in instance.sites}:
            continue
        phase = next((p for p in instance.site(s.site).ai_phases if p.id == s.phase), None)
        if phase is not None:
            by_year[s.in_month[:4]].append((i, phase.critical_it_mw))
    found: list[Found] = []
    for year, pinned in sorted(by_year.items()):
        total = sum(mw for _, mw in pinned)
        if total > cap + 1e-9:
            found.append((f"commitments.signings[{pinned[-1][0]}].in_month",
                          f"the signings committed in {year} add up to {total:g} MW of critical IT, "
                          f"more than signing_cap_mw_per_year ({cap:g})",
                          "move a signing to another year or raise the cap"))
    return found


def _order_problems(instance: Instance, bounds) -> list[Found]:
    """Phases of a site are signed in order: a later phase signed by month t needs every
    earlier one signed by t."""
    found: list[Found] = []
    T = instance.horizon_months
    # unlisted: none leaves every phase not listed unsigned
    unlisted = (T, None, "") if instance.commitments.unlisted == "none" else (None, None, "")
    for site in instance.sites:
        phases = [p.id for p in site.ai_phases]
        for j, later in enumerate(phases):
            _, latest, where = bounds.get((site.id, later), (None, None, ""))
            if latest is None:
                continue
            for earlier in phases[:j]:
                earliest, _, _ = bounds.get((site.id, earlier), unlisted)
                if earliest is not None and earliest > latest:
                    when = "is never signed" if earliest >= T else \
                        f"is not signed before {_label(instance, earliest)}"
                    found.append((where, f"{site.id}/{later} is signed by {_label(instance, latest)} "
                                  f"but {site.id}/{earlier}, signed before it in site order, {when}",
                                  "phases of a site are signed in order; commit them consistently"))
    return found


def _fleet_problems(instance: Instance, index) -> list[Found]:
    found: list[Found] = []
    by_id = {g.id: g for g in instance.fleet}
    T = instance.horizon_months
    for kind in ("fleet_orders", "fleet_sales"):
        seen: dict[tuple[str, int], str] = {}
        for i, o in enumerate(getattr(instance.commitments, kind)):
            where = f"commitments.{kind}[{i}]"
            gen = by_id.get(o.generation)
            if gen is None:
                found.append((f"{where}.generation", f"unknown generation {o.generation!r}",
                              f"use one of {', '.join(by_id) or '(the fleet is empty)'}"))
                continue
            t = index(f"{where}.month", o.month)
            if t is None:
                continue
            if (o.generation, t) in seen:
                found.append((where, f"{o.generation} in {o.month} is committed twice (also at "
                              f"{seen[(o.generation, t)]})", "merge them into one commitment"))
                continue
            seen[(o.generation, t)] = where
            if kind == "fleet_sales":
                if gen.resale_usd_per_th is None:
                    found.append((f"{where}.generation", f"{o.generation} cannot be sold: it has no "
                                  f"resale price (fleet[{o.generation}].resale_usd_per_th)",
                                  "add a resale price or drop the sale"))
                continue
            purchase = gen.purchase
            if purchase is None:
                found.append((f"{where}.generation", f"{o.generation} cannot be ordered: it has no "
                              f"purchase terms (fleet[{o.generation}].purchase)",
                              "add purchase terms or drop the order"))
                continue
            first = 0 if purchase.first_order_month is None else max(
                0, month_ordinal(purchase.first_order_month) - month_ordinal(instance.start))
            last = T - 1 - purchase.delivery_lead_months
            if not first <= t <= last:
                found.append((f"{where}.month", f"{o.generation} cannot be ordered in {o.month}: orders "
                              f"run from {_label(instance, first)} to {_label(instance, last)} (delivery "
                              "inside the horizon)", "move the order into that window"))
            if purchase.max_mw_per_month is not None and o.mw > purchase.max_mw_per_month + 1e-9:
                found.append((f"{where}.mw", f"{o.mw:g} MW exceeds the supply limit of "
                              f"{purchase.max_mw_per_month:g} MW per month", "order less"))
            if purchase.lot_mw:
                lots = o.mw / purchase.lot_mw
                if abs(lots - round(lots)) > 1e-6:
                    found.append((f"{where}.mw", f"{o.mw:g} MW is not a whole number of "
                                  f"{purchase.lot_mw:g} MW lots", "order whole lots"))
    return found


def _hall_problems(instance: Instance, index) -> list[Found]:
    found: list[Found] = []
    site_ids = [s.id for s in instance.sites]
    total: dict[str, float] = defaultdict(float)
    seen: dict[tuple[str, int], str] = {}
    T = instance.horizon_months
    for i, h in enumerate(instance.commitments.hall_builds):
        where = f"commitments.hall_builds[{i}]"
        if h.site not in site_ids:
            found.append((f"{where}.site", f"unknown site {h.site!r}", f"use one of {', '.join(site_ids)}"))
            continue
        halls = instance.site(h.site).mining_halls
        if halls is None or halls.max_mw <= 0.0:
            found.append((f"{where}.site", f"site {h.site} offers no mining halls "
                          f"(sites[{h.site}].mining_halls)", "drop the build or offer halls"))
            continue
        t = index(f"{where}.month", h.month)
        if t is None:
            continue
        if (h.site, t) in seen:
            found.append((where, f"{h.site} in {h.month} is committed twice (also at "
                          f"{seen[(h.site, t)]})", "merge them into one commitment"))
            continue
        seen[(h.site, t)] = where
        if t > T - 1 - halls.build_lead_months:
            found.append((f"{where}.month", f"halls built in {h.month} would not be online inside "
                          "the horizon", f"build by {_label(instance, T - 1 - halls.build_lead_months)}"))
        total[h.site] += h.mw
        if total[h.site] > halls.max_mw + 1e-9:
            found.append((f"{where}.mw", f"the committed builds at {h.site} add up to {total[h.site]:g} "
                          f"MW, more than max_mw ({halls.max_mw:g})", "build less"))
    return found


def _financing_problems(instance: Instance, index) -> list[Found]:
    found: list[Found] = []
    finance = instance.finance
    programs = {p.id: p for p in finance.notes_programs}
    start = month_ordinal(instance.start)
    T = instance.horizon_months
    seen: dict[tuple[str, int], str] = {}
    for i, n in enumerate(instance.commitments.notes_issued):
        where = f"commitments.notes_issued[{i}]"
        program = programs.get(n.program)
        if program is None:
            found.append((f"{where}.program", f"unknown notes program {n.program!r}",
                          f"use one of {', '.join(programs) or '(finance.notes_programs is empty)'}"))
            continue
        t = index(f"{where}.month", n.month)
        if t is None:
            continue
        if (n.program, t) in seen:
            found.append((where, f"{n.program} in {n.month} is committed twice (also at "
                          f"{seen[(n.program, t)]})", "merge them into one commitment"))
            continue
        seen[(n.program, t)] = where
        first = month_ordinal(program.first_issue_month) - start if program.first_issue_month else 0
        last = month_ordinal(program.last_issue_month) - start if program.last_issue_month else T - 1
        if not max(0, first) <= t <= min(T - 1, last):
            found.append((f"{where}.month", f"{n.program} cannot issue in {n.month}: its issue window "
                          f"is {_label(instance, max(0, first))} to {_label(instance, min(T - 1, last))}",
                          "move the issue into the window"))
        if n.usd > program.limit_usd * (1 + 1e-9):
            found.append((f"{where}.usd", f"exceeds the program's limit_usd ({program.limit_usd:,.0f})",
                          "issue less"))
    equity = finance.equity_issuance
    months: dict[int, str] = {}
    raised = 0.0
    for i, e in enumerate(instance.commitments.equity_issued):
        where = f"commitments.equity_issued[{i}]"
        if equity is None:
            found.append((where, "equity issuance is not offered (finance.equity_issuance)",
                          "offer it or drop the raise"))
            break
        t = index(f"{where}.month", e.month)
        if t is None:
            continue
        if t in months:
            found.append((where, f"{e.month} is committed twice (also at {months[t]})",
                          "merge them into one commitment"))
            continue
        months[t] = where
        raised += e.usd
        if equity.limit_usd is not None and raised > equity.limit_usd * (1 + 1e-9):
            found.append((f"{where}.usd", f"the committed raises add up to {raised:,.0f}, more than "
                          f"finance.equity_issuance.limit_usd ({equity.limit_usd:,.0f})", "raise less"))
    return found
