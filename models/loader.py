"""Reading instance files: YAML or JSON, CSV series beside them, every problem at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models.common import CsvSeries, month_ordinal, ordinal_to_month
from models.instance import Instance


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an instance: where, what, and how to fix it."""

    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class InstanceError(Exception):
    """An instance file that cannot be used; carries every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against `capalloc schema`",
    "float_type": "write a number without quotes",
    "int_type": "write a whole number without quotes",
    "bool_type": "write true or false",
    "string_type": "write text",
    "string_pattern_mismatch": "",
    "greater_than": "",
    "greater_than_equal": "",
    "less_than_equal": "",
    "too_short": "add at least one entry",
    "list_type": "write a list",
    "dict_type": "write a mapping",
    "union_tag_invalid": "use a number, {start_value, growth_pct_per_year} or {csv, column}",
}

# Union members and validators that pydantic puts into error locations; planners never see them.
_LOC_NOISE = ("float", "int", "growth", "csv", "function-after", "function-before", "tagged-union")


def friendly_path(loc: tuple[Any, ...], data: Any, noise: tuple[str, ...] = _LOC_NOISE) -> str:
    """Turn ('sites', 0, 'ai_phases', 1, 'lead_time_months') into sites[georgia].ai_phases[p2]...

    List positions become the element's id (or name) where it has one; location parts in
    ``noise`` (union members and validators pydantic adds) are left out."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, str) and item.split("[")[0] in noise:
            continue
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and 0 <= item < len(node):
                element = node[item]
                if isinstance(element, dict):
                    ident = element.get("id", element.get("name"))
                    if isinstance(ident, str):
                        label = ident
                node = element
            else:
                node = None
            parts.append(f"[{label}]")
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _problems_from_validation(error: ValidationError, data: Any) -> list[Problem]:
    raw = [
        (friendly_path(tuple(item["loc"]), data), item["msg"].removeprefix("Value error, "), item["type"])
        for item in error.errors(include_url=False)
    ]
    # A value that fits no member of a union (a number, or a {csv}/{growth} mapping) yields one
    # error per member; the member's plain type mismatch is noise when another error explains it.
    explained = {path for path, _, kind in raw if kind not in _UNION_NOISE}
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for path, message, kind in raw:
        if kind in _UNION_NOISE and path in explained:
            continue
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(Problem(path, message, _HINTS.get(kind, "")))
    return problems


_UNION_NOISE = ("float_type", "model_type", "union_tag_invalid")


def _semantic_problems(instance: Instance) -> list[Problem]:
    """Cross-field rules that pydantic field validation cannot see."""
    problems: list[Problem] = []
    start = month_ordinal(instance.start)
    end = start + instance.horizon_months - 1
    site_ids = [s.id for s in instance.sites]

    def duplicates(names: list[str]) -> set[str]:
        return {n for n in names if names.count(n) > 1}

    for dup in sorted(duplicates(site_ids)):
        problems.append(Problem("sites", f"site id {dup!r} appears more than once", "ids must be unique"))

    for site in instance.sites:
        where = f"sites[{site.id}]"
        months = [month_ordinal(step.from_month) for step in site.energization]
        if months != sorted(months) or len(set(months)) != len(months):
            problems.append(
                Problem(f"{where}.energization", "steps must be in strictly increasing month order")
            )
        for dup in sorted(duplicates([p.id for p in site.ai_phases])):
            problems.append(Problem(f"{where}.ai_phases", f"phase id {dup!r} appears more than once"))
        displaced = 0.0
        for phase in site.ai_phases:
            pw = f"{where}.ai_phases[{phase.id}]"
            if phase.spend_profile is not None:
                total = sum(phase.spend_profile)
                if abs(total - 1.0) > 1e-9:
                    problems.append(
                        Problem(f"{pw}.spend_profile", f"must sum to 1, sums to {total:.6g}",
                                "the shares are fractions of the capex paid each month")
                    )
                if len(phase.spend_profile) > phase.lead_time_months:
                    problems.append(
                        Problem(f"{pw}.spend_profile",
                                f"has {len(phase.spend_profile)} months, longer than the lead time "
                                f"of {phase.lead_time_months}",
                                "capex must be spent before rent starts")
                    )
                if len(phase.spend_profile) == 0:
                    problems.append(Problem(f"{pw}.spend_profile", "must not be empty",
                                            "omit it for a uniform profile"))
            if phase.prepayment_months > phase.term_months:
                problems.append(
                    Problem(f"{pw}.prepayment_months", "exceeds the lease term",
                            f"use at most {phase.term_months}")
                )
            if phase.conversion == "greenfield" and phase.displaced_mining_mw is not None:
                problems.append(
                    Problem(f"{pw}.displaced_mining_mw", "a greenfield phase displaces no mining",
                            "remove the field or make the phase a retrofit")
                )
            displaced += phase.displaced_mw
            if phase.earliest_signing_month is not None:
                first = month_ordinal(phase.earliest_signing_month)
                if first > end:
                    problems.append(
                        Problem(f"{pw}.earliest_signing_month", "falls after the horizon",
                                f"use a month up to {ordinal_to_month(end)}")
                    )
        if displaced > site.mining_infrastructure_mw + 1e-9:
            problems.append(
                Problem(f"{where}.ai_phases",
                        f"retrofits displace {displaced:g} MW of mining but the site has only "
                        f"{site.mining_infrastructure_mw:g} MW of mining infrastructure",
                        "lower displaced_mining_mw or raise mining_infrastructure_mw")
            )

    for gen in instance.fleet:
        where = f"fleet[{gen.id}]"
        for site_id in sorted(gen.sites_at_start):
            if site_id not in site_ids:
                problems.append(
                    Problem(f"{where}.sites_at_start.{site_id}", "unknown site",
                            f"use one of {', '.join(site_ids)}")
                )
        placed = sum(gen.sites_at_start.values())
        if placed > gen.installed_mw + 1e-9:
            problems.append(
                Problem(f"{where}.sites_at_start",
                        f"places {placed:g} MW but only {gen.installed_mw:g} MW are installed",
                        "raise installed_mw or place fewer MW")
            )
    for dup in sorted(duplicates([g.id for g in instance.fleet])):
        problems.append(Problem("fleet", f"generation id {dup!r} appears more than once"))

    for site in instance.sites:
        at_start = sum(g.sites_at_start.get(site.id, 0.0) for g in instance.fleet)
        if at_start > site.mining_infrastructure_mw + 1e-9:
            problems.append(
                Problem(f"sites[{site.id}].mining_infrastructure_mw",
                        f"is {site.mining_infrastructure_mw:g} MW but the fleet places {at_start:g} MW "
                        "there at the start", "raise it or move machines in fleet[*].sites_at_start")
            )

    scenarios = instance.market.scenarios
    for dup in sorted(duplicates([s.name for s in scenarios])):
        problems.append(Problem("market.scenarios", f"scenario {dup!r} appears more than once"))
    total_p = sum(s.probability for s in scenarios)
    if abs(total_p - 1.0) > 1e-6:
        problems.append(
            Problem("market.scenarios", f"probabilities sum to {total_p:.6g}, not 1",
                    "give each scenario its probability so that they sum to 1")
        )
    halving_months = [month_ordinal(h.month) for h in instance.market.halvings]
    if halving_months != sorted(halving_months):
        problems.append(Problem("market.halvings", "must be in increasing month order"))

    for debt in instance.finance.existing_debts:
        if month_ordinal(debt.maturity_month) < start:
            problems.append(
                Problem(f"finance.existing_debts[{debt.id}].maturity_month",
                        "is before the plan start", "drop repaid debts from the instance")
            )
    for dup in sorted(duplicates([d.id for d in instance.finance.existing_debts])):
        problems.append(Problem("finance.existing_debts", f"debt id {dup!r} appears more than once"))
    if instance.finance.revolver and (
        instance.finance.revolver.drawn_at_start_usd > instance.finance.revolver.limit_usd
    ):
        problems.append(Problem("finance.revolver.drawn_at_start_usd", "exceeds limit_usd"))

    problems.extend(_series_coverage(instance))
    problems.extend(_mining_investment_problems(instance))
    problems.extend(_highs_option_problems(instance))
    return problems


def _mining_investment_problems(instance: Instance) -> list[Problem]:
    """Fleet purchases, placement sites and per-scenario power prices (issue 13)."""
    problems: list[Problem] = []
    site_ids = [s.id for s in instance.sites]
    scenario_names = [s.name for s in instance.market.scenarios]
    start = month_ordinal(instance.start)
    end = start + instance.horizon_months - 1
    for site in instance.sites:
        for name in sorted(site.power_price_by_scenario_usd_per_mwh):
            if name not in scenario_names:
                problems.append(Problem(f"sites[{site.id}].power_price_by_scenario_usd_per_mwh.{name}",
                                        "unknown scenario", f"use one of {', '.join(scenario_names)}"))
    for gen in instance.fleet:
        where = f"fleet[{gen.id}]"
        if gen.sites is not None:
            for site_id in gen.sites:
                if site_id not in site_ids:
                    problems.append(Problem(f"{where}.sites", f"unknown site {site_id!r}",
                                            f"use one of {', '.join(site_ids)}"))
            for site_id in sorted(gen.sites_at_start):
                if site_id in site_ids and site_id not in gen.sites:
                    problems.append(Problem(f"{where}.sites_at_start.{site_id}",
                                            "places machines at a site not in the generation's sites",
                                            "add the site to sites or move the machines"))
        purchase = gen.purchase
        if purchase is None:
            continue
        pw = f"{where}.purchase"
        if (purchase.lot_mw is not None and purchase.max_mw_per_month is not None
                and purchase.lot_mw > purchase.max_mw_per_month + 1e-9):
            problems.append(Problem(f"{pw}.lot_mw",
                                    f"a lot of {purchase.lot_mw:g} MW is larger than the supply limit of "
                                    f"{purchase.max_mw_per_month:g} MW per month",
                                    "lower lot_mw or raise max_mw_per_month"))
        if purchase.first_order_month is not None and month_ordinal(purchase.first_order_month) > end:
            problems.append(Problem(f"{pw}.first_order_month", "falls after the horizon",
                                    f"use a month up to {ordinal_to_month(end)}"))
        if purchase.delivery_lead_months > instance.horizon_months - 1:
            problems.append(Problem(f"{pw}.delivery_lead_months",
                                    f"is {purchase.delivery_lead_months} months: no order could be "
                                    f"delivered inside the {instance.horizon_months}-month horizon",
                                    "shorten the lead or lengthen the horizon"))
    return problems


def _highs_option_problems(instance: Instance) -> list[Problem]:
    """Options HiGHS does not know, or values of the wrong kind (HiGHS checks them itself)."""
    try:
        import highspy
    except ImportError:  # validation without the solver installed: HiGHS will complain later
        return []
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    problems = []
    for name, value in sorted(instance.solver.highs_options.items()):
        if highs.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            problems.append(Problem(f"solver.highs_options.{name}",
                                    f"HiGHS rejects {name} = {value!r}",
                                    "check the option's name and type in HiGHS's documentation"))
    return problems


def _series_coverage(instance: Instance) -> list[Problem]:
    problems: list[Problem] = []

    def check(path: str, series: Any, positive: bool) -> None:
        if isinstance(series, CsvSeries):
            missing = series.covers(instance.start, instance.horizon_months)
            if missing:
                problems.append(
                    Problem(path, f"CSV {series.csv!r} has no row for {missing}",
                            "the file must cover every month of the horizon")
                )
                return
        from models.common import series_values

        values = series_values(series, instance.start, instance.horizon_months)
        bad = [v for v in values if (v <= 0 if positive else v < 0)]
        if bad:
            kind = "positive" if positive else "non-negative"
            problems.append(Problem(path, f"must be {kind} in every month (found {bad[0]:g})"))

    for site in instance.sites:
        check(f"sites[{site.id}].power_price_usd_per_mwh", site.power_price_usd_per_mwh, False)
    for site in instance.sites:
        for name, series in sorted(site.power_price_by_scenario_usd_per_mwh.items()):
            check(f"sites[{site.id}].power_price_by_scenario_usd_per_mwh.{name}", series, False)
    for gen in instance.fleet:
        if gen.purchase is not None:
            check(f"fleet[{gen.id}].purchase.price_usd_per_th", gen.purchase.price_usd_per_th, False)
        if gen.resale_usd_per_th is not None:
            check(f"fleet[{gen.id}].resale_usd_per_th", gen.resale_usd_per_th, False)
    for sc in instance.market.scenarios:
        where = f"market.scenarios[{sc.name}]"
        if sc.hashprice_usd_per_ph_day is not None:
            check(f"{where}.hashprice_usd_per_ph_day", sc.hashprice_usd_per_ph_day, False)
            # Mined BTC = hashprice / BTC price: the price must be positive to mine.
            check(f"{where}.btc_price_usd", sc.btc_price_usd, True)
        check(f"{where}.btc_price_usd", sc.btc_price_usd, False)
        check(f"{where}.network_hashrate_ehs", sc.network_hashrate_ehs, True)
        check(f"{where}.fees_btc_per_block", sc.fees_btc_per_block, False)
    return problems


def validate_instance_data(
    data: Any, source: str = "<instance>", base_dir: Path | None = None
) -> Instance:
    """Validate already-parsed instance data; raise InstanceError listing every problem."""
    if not isinstance(data, dict):
        raise InstanceError(source, [Problem("", "the file must hold a mapping of fields")])
    context = {"base_dir": str(base_dir)} if base_dir is not None else None
    try:
        instance = Instance.model_validate(data, context=context)
    except ValidationError as error:
        raise InstanceError(source, _problems_from_validation(error, data)) from None
    problems = _semantic_problems(instance)
    if problems:
        raise InstanceError(source, problems)
    return instance


def read_instance_data(path: Path) -> Any:
    """Parse a YAML or JSON instance file (safe loader only)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def load_instance(path: str | Path) -> Instance:
    """Load and validate an instance file; CSV series are read relative to its folder."""
    file = Path(path)
    if not file.is_file():
        raise InstanceError(str(path), [Problem("", "file not found", "check the path")])
    try:
        data = read_instance_data(file)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InstanceError(str(path), [Problem("", f"cannot be parsed: {error}")]) from None
    return validate_instance_data(data, str(path), base_dir=file.resolve().parent)


def instance_fingerprint(path: str | Path) -> str:
    """sha256 of the instance file and every CSV it references, in a stable order."""
    file = Path(path)
    digest = hashlib.sha256(file.read_bytes())
    data = read_instance_data(file)
    for csv_name in sorted(_csv_references(data)):
        csv_file = file.resolve().parent / csv_name
        if csv_file.is_file():
            digest.update(csv_name.encode())
            digest.update(csv_file.read_bytes())
    return digest.hexdigest()


def _csv_references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("csv"), str):
            found.add(node["csv"])
        for value in node.values():
            found |= _csv_references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _csv_references(value)
    return found
