"""Reading instance files: YAML or JSON, CSV series beside them, every problem at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from capalloc.models.common import (
    CsvSeries,
    month_ordinal,
    ordinal_to_month,
    series_range_problem,
    series_values,
)
from capalloc.models.highs_options import highs_option_problem
from capalloc.models.instance import FleetGeneration, Instance, MarketScenario, Purchase, Site
from capalloc.models.loader_commitments import commitment_problems
from capalloc.models.loader_notes import notes_problems
from capalloc.models.loader_tree import tree_problems
from capalloc.models.ranges import HASHPRICE_USD_PER_PH_DAY, POSITIVE_USD_PER_BTC, Plausible, field_range
from capalloc.models.reading import (
    MAX_CSV_BYTES,
    MAX_INSTANCE_BYTES,
    Parsed,
    ReadError,
    printable,
    read_data_file,
    read_regular_file,
    resolve_inside,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an instance: where, what, and how to fix it."""

    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        # Paths and messages carry what the file says (ids, keys, names): never let it steer
        # the terminal.
        text = f"{self.path}: {self.message}" if self.path else self.message
        return printable(f"{text} (hint: {self.hint})" if self.hint else text)


class InstanceError(Exception):
    """An instance file that cannot be used; carries every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{printable(source)}: {len(problems)} problem(s)\n{lines}")


_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against `capalloc schema`",
    "float_type": "write a number without quotes",
    "finite_number": "write a finite number: NaN and infinity are not figures",
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
    ``noise`` (union members and validators pydantic adds) are left out, except that a union
    member followed by a field of the same name (the csv member's ``csv`` field) keeps that field."""
    parts: list[str] = []
    node = data
    previous: Any = None
    for item in loc:
        is_noise = isinstance(item, str) and item.split("[")[0] in noise
        previous, repeated = item, item == previous
        if is_noise and not repeated:
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


def _market_shorthand(data: Any) -> bool:
    """Whether the file writes one scenario's series directly under market (Market's shorthand)."""
    market = data.get("market") if isinstance(data, dict) else None
    return isinstance(market, dict) and "scenarios" not in market


def _as_written(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """The location in the file's own terms: the shorthand's scenario is market itself."""
    if loc[:3] == ("market", "scenarios", 0) and _market_shorthand(data):
        return ("market", *loc[3:])
    return loc


def _problems_from_validation(error: ValidationError, data: Any) -> list[Problem]:
    raw = [
        (friendly_path(_as_written(tuple(item["loc"]), data), data),
         item["msg"].removeprefix("Value error, "), item["type"])
        for item in error.errors(include_url=False)
    ]
    # A value that fits no member of a union (a number, or a {csv}/{growth} mapping) yields one
    # error per member; the member's plain type mismatch is noise when another error explains it.
    explained = {path for path, _, kind in raw if kind not in _UNION_NOISE}

    def is_explained(path: str) -> bool:  # by an error at the path or at a field inside it
        return any(other == path or other.startswith((path + ".", path + "[")) for other in explained)

    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    noise_shown: set[str] = set()  # a value no union member takes: its first complaint is enough
    for path, message, kind in raw:
        if kind in _UNION_NOISE and (is_explained(path) or path in noise_shown):
            continue
        if kind in _UNION_NOISE:
            noise_shown.add(path)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(Problem(path, message, _HINTS.get(kind, "")))
    return problems


_UNION_NOISE = ("float_type", "model_type", "model_attributes_type", "union_tag_invalid")


def _semantic_problems(instance: Instance, market_shorthand: bool = False) -> list[Problem]:
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

    problems.extend(_series_coverage(instance, market_shorthand))
    problems.extend(_mining_investment_problems(instance))
    problems.extend(_highs_option_problems(instance))
    problems.extend(Problem(*found) for found in notes_problems(instance, market_shorthand))
    problems.extend(Problem(*found) for found in commitment_problems(instance))
    if not problems:  # the tree's checks read every series, which must be sound first
        problems.extend(Problem(*found) for found in tree_problems(instance, market_shorthand))
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
    covenant = instance.finance.covenant
    if covenant is not None and month_ordinal(covenant.from_month) > end:
        problems.append(Problem("finance.covenant.from_month", "falls after the horizon",
                                f"use a month up to {ordinal_to_month(end)}"))
    return problems


def _highs_option_problems(instance: Instance) -> list[Problem]:
    """Options off the allow-list of models.highs_options, or values it does not allow."""
    problems = []
    for name, value in sorted(instance.solver.highs_options.items()):
        found = highs_option_problem(name, value)
        if found is not None:
            problems.append(Problem(f"solver.highs_options.{name}", *found))
    return problems


def _series_coverage(instance: Instance, market_shorthand: bool = False) -> list[Problem]:
    problems: list[Problem] = []

    def check(path: str, series: Any, plausible: Plausible) -> None:
        if isinstance(series, CsvSeries):
            missing = series.covers(instance.start, instance.horizon_months)
            if missing:
                problems.append(
                    Problem(path, f"CSV {series.csv!r} has no row for {missing}",
                            "the file must cover every month of the horizon")
                )
                return
        problem = series_range_problem(series, instance.start, instance.horizon_months, plausible)
        if problem is not None:
            problems.append(Problem(path, problem, "check the figure, its unit and the growth rate"))

    for site in instance.sites:
        check(f"sites[{site.id}].power_price_usd_per_mwh", site.power_price_usd_per_mwh,
              field_range(Site, "power_price_usd_per_mwh"))
        for name, series in sorted(site.power_price_by_scenario_usd_per_mwh.items()):
            check(f"sites[{site.id}].power_price_by_scenario_usd_per_mwh.{name}", series,
                  field_range(Site, "power_price_usd_per_mwh"))
    for gen in instance.fleet:
        if gen.purchase is not None:
            check(f"fleet[{gen.id}].purchase.price_usd_per_th", gen.purchase.price_usd_per_th,
                  field_range(Purchase, "price_usd_per_th"))
        if gen.resale_usd_per_th is not None:
            check(f"fleet[{gen.id}].resale_usd_per_th", gen.resale_usd_per_th,
                  field_range(FleetGeneration, "resale_usd_per_th"))
    for sc in instance.market.scenarios:
        where = "market" if market_shorthand else f"market.scenarios[{sc.name}]"
        before = len(problems)
        for name in ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block"):
            check(f"{where}.{name}", getattr(sc, name), field_range(MarketScenario, name))
        if sc.hashprice_usd_per_ph_day is not None:
            check(f"{where}.hashprice_usd_per_ph_day", sc.hashprice_usd_per_ph_day,
                  field_range(MarketScenario, "hashprice_usd_per_ph_day"))
            # Mined BTC = hashprice / BTC price: the price must be positive to mine.
            check(f"{where}.btc_price_usd", sc.btc_price_usd, POSITIVE_USD_PER_BTC)
        elif len(problems) == before:
            problems.extend(_hashprice_problems(instance, sc, where))
        if sc.share_price_usd is not None:
            check(f"{where}.share_price_usd", sc.share_price_usd,
                  field_range(MarketScenario, "share_price_usd"))
    return problems


"""The plausible range of hashprice, which follows from four market fields. DOMAIN.md has
$30-55 per PH/s per day; each field alone may be far off (BTC up to 1e8 USD, hashrate down to
0.001 EH/s), but together they made ~7.6e11 USD/PH/day, where HiGHS failed with an error."""


def _hashprice_problems(instance: Instance, scenario: MarketScenario, where: str) -> list[Problem]:
    start, months = instance.start, instance.horizon_months
    market = instance.market
    steps = sorted((month_ordinal(h.month), h.subsidy_btc_per_block) for h in market.halvings)
    first = month_ordinal(start)
    price, hashrate, fees = (
        series_values(getattr(scenario, name), start, months)
        for name in ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block")
    )
    for t in range(months):
        subsidy = market.initial_subsidy_btc_per_block
        for month, value in steps:
            if month <= first + t:
                subsidy = value
        # USD per PH/s per day: price x BTC per day network-wide / network PH/s (1 EH = 1000 PH).
        hashprice = price[t] * market.blocks_per_day * (subsidy + fees[t]) / (hashrate[t] * 1000.0)
        problem = HASHPRICE_USD_PER_PH_DAY.problem(hashprice)
        if problem is not None:
            return [Problem(where, f"{ordinal_to_month(first + t)}: hashprice (BTC price x blocks per "
                                   f"day x (subsidy + fees) / network hashrate) {problem}",
                            "check btc_price_usd, network_hashrate_ehs and fees_btc_per_block "
                            "and their units")]
    return []


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
    problems = _semantic_problems(instance, _market_shorthand(data))
    if problems:
        raise InstanceError(source, problems)
    return instance


def read_parsed(path: str | Path, error_type: type[InstanceError] | None = None) -> Parsed:
    """The parsed file, or ``error_type`` (InstanceError): unreadable, unparsable, or a key
    given twice."""
    error_type = error_type or InstanceError
    try:
        parsed = read_data_file(Path(path), MAX_INSTANCE_BYTES)
    except ReadError as error:
        raise error_type(str(path), [Problem("", error.message, error.hint)]) from None
    if parsed.duplicate_keys:
        problems = []
        for loc, key in parsed.duplicate_keys:
            where = friendly_path(loc, parsed.data, noise=())
            problems.append(Problem(f"{where}.{key}" if where else key, "appears more than once in "
                                    "the same mapping", "keep one; the parser would silently use the last"))
        raise error_type(str(path), problems)
    return parsed


def read_instance_data(path: Path) -> Any:
    """Parse a YAML or JSON instance file (safe loader, YAML 1.2 numbers, bounded, no duplicate
    keys); InstanceError when it cannot be used."""
    return read_parsed(path).data


def load_instance(path: str | Path) -> Instance:
    """Load and validate an instance file; CSV series are read relative to its folder."""
    file = Path(path)
    data = read_instance_data(file)
    return validate_instance_data(data, str(path), base_dir=file.resolve().parent)


def instance_fingerprint(path: str | Path) -> str:
    """sha256 of the instance file and every CSV it references, in a stable order.

    Reads through the same checks as load_instance: nothing outside the instance's folder."""
    file = Path(path)
    try:
        digest = hashlib.sha256(read_regular_file(file, MAX_INSTANCE_BYTES))
    except ReadError as error:
        raise InstanceError(str(path), [Problem("", error.message, error.hint)]) from None
    data = read_instance_data(file)
    folder = file.resolve().parent
    for csv_name in sorted(_csv_references(data)):
        try:
            content = read_regular_file(resolve_inside(folder, csv_name), MAX_CSV_BYTES, False)
        except ReadError as error:
            raise InstanceError(str(path), [Problem("", f"CSV file {csv_name!r} {error.message}")]) from None
        digest.update(csv_name.encode())
        digest.update(content)
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
