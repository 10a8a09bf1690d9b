"""Synthetic but realistic capalloc instances by size, deterministic from a seed.

Figures follow shared/DOMAIN.md (ranges drawn uniformly inside them):

- mining sites (about 70 % of the sites): 50-500 MW energized from the start, mining halls
  for grid MW / 1.05, power $35-75/MWh, uptime 85-95 %, with retrofit AI phases that together
  take at most ~0.75 MW of IT per grid MW and displace the ASIC load their facility power
  replaces;
- AI-only greenfield sites: 150-600 MW energized 6-30 months into the plan, some in two
  steps, with greenfield phases whose facility power fits the final energized MW;
- phases: 50-150 MW of IT, PUE 1.15-1.3, capex $8-11M/MW, lead 12-18 months, lease
  $105-160/kW-month with a 2-3 %/yr escalator, 10/12/15-year terms, opex 17.5 % of the first
  rent, some with a prepayment. The spread makes some phases worth signing and others not;
- a fleet of ASIC generations (S21 XP ... S19 XP class) sized to ~85 % of the mining halls and
  spread over the mining sites;
- market scenarios (base, then bear/bull variants) with the 2028 and 2032 halvings;
- finance: starting cash and a BTC treasury in proportion to the portfolio, 0 % converts
  maturing inside the horizon, a revolver, 75 % LTC project debt at 7.5 %, a liquidity
  floor, and a yearly signing cap (market absorption): by default 2.75 times the average
  yearly AI potential, cleanspark_2026's ratio (300 MW a year against ~110 MW); with
  ``signing_cap_ratio=None`` the older tight cap, 0.8-1.5 times it, which binds for years
  (the stress family, issue 17).

Every instance stays feasible by construction: idling every miner and signing nothing is
allowed, and the cash, BTC and revolver cover the converts and the floor with a margin
(checked by :func:`feasibility_margin_usd`).

Usage: ``python -m benchmarks.generate --sites 10 --months 120 --seed 1 > inst.json`` or
``generate_instance(Size(...))`` from Python (returns a dict for models.validate_instance_data).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass

from capalloc.models.common import month_ordinal, ordinal_to_month

START = "2026-07"
EFFICIENCIES_J_PER_TH = [13.5, 15.0, 17.5, 21.5, 9.6, 16.0, 19.0, 24.0]
GENERATION_NAMES = ["s21xp", "s21pro", "s21", "s19xp", "s23hydro", "m60s", "s19kpro", "s19j"]
MINING_PUE = 1.05
CLEANSPARK_CAP_RATIO = 2.75
"""cleanspark_2026's yearly signing cap over its average yearly AI potential (300 / ~110 MW)."""
TIGHT_CAP = None
"""``Size.signing_cap_ratio`` of the stress family (the cap before issue 17): drawn at 0.8-1.5,
it binds for years; tests that need a binding cap ask for it."""


@dataclass(frozen=True)
class Size:
    """How big a synthetic instance is."""

    name: str
    sites: int
    months: int
    phases_per_site: float = 2.0
    generations: int = 3
    scenarios: int = 1
    seed: int = 0
    time_limit_seconds: float = 60.0
    purchases: bool = False  # issue 13: every generation can be bought and sold, plus an S23
    # Yearly signing cap / average yearly AI potential; None draws the tight 0.8-1.5 (stress).
    signing_cap_ratio: float | None = CLEANSPARK_CAP_RATIO

    def describe(self) -> str:
        return (f"{self.sites} sites x {self.months} months, ~{self.phases_per_site:g} phases/site, "
                f"{self.generations} generations, {self.scenarios} scenario(s), seed {self.seed}")


def _month(offset: int) -> str:
    return ordinal_to_month(month_ordinal(START) + offset)


def _phase_counts(rng: random.Random, sites: int, per_site: float) -> list[int]:
    """Phases per site with the requested total (round(sites x per_site)), at least one each."""
    total = max(sites, round(sites * per_site))
    counts = [1] * sites
    for _ in range(total - sites):
        counts[rng.randrange(sites)] += 1
    return counts


def _phase(rng: random.Random, ident: str, it_mw: float, pue: float, months: int,
           conversion: str, earliest: int | None) -> dict:
    lease = round(rng.uniform(105.0, 160.0), 1)
    term = rng.choice([120, 144, 180])
    phase = {
        "id": ident,
        "critical_it_mw": round(it_mw, 1),
        "pue": pue,
        "capex_usd_per_mw_it": round(rng.uniform(8.0e6, 11.0e6), -4),
        "lead_time_months": rng.randint(12, 18),
        "lease_usd_per_kw_month": lease,
        "escalator_pct_per_year": round(rng.uniform(2.0, 3.0), 2),
        "term_months": term,
        # DOMAIN: NOI margin 80-85 % -> opex ~17.5 % of the first-year rent.
        "opex_usd_per_mw_month": round(0.175 * lease * 1000.0, 0),
        "conversion": conversion,
    }
    if rng.random() < 0.2:
        phase["prepayment_months"] = rng.choice([3, 6, 12])
    if earliest is not None and 0 < earliest < months:
        phase["earliest_signing_month"] = _month(earliest)
    return phase


def generate_instance(size: Size) -> dict:
    """An instance dict (validate with models.validate_instance_data) of the given size."""
    rng = random.Random(f"capalloc-bench:{size.seed}:{size.sites}:{size.months}:"
                        f"{size.phases_per_site}:{size.generations}:{size.scenarios}")
    T = size.months
    n_mining = max(1, round(size.sites * 0.7)) if size.sites > 1 else 1
    counts = _phase_counts(rng, size.sites, size.phases_per_site)
    sites: list[dict] = []
    mining_halls: dict[str, float] = {}
    grid_total = 0.0
    ai_it_total = 0.0
    for i in range(size.sites):
        mining = i < n_mining
        ident = f"{'m' if mining else 'ai'}{i + 1:03d}"
        phases: list[dict] = []
        if mining:
            grid = round(rng.uniform(50.0, 500.0), 0)
            halls = round(grid / MINING_PUE, 1)
            energization = [{"from_month": START, "contracted_mw": grid}]
            # Retrofits: together at most ~0.75 MW IT per grid MW (DOMAIN 0.69-0.80).
            pue = round(rng.uniform(1.2, 1.3), 2)
            it_total = grid * rng.uniform(0.6, 0.75)
            n = counts[i]
            displaced_left = halls
            for k in range(n):
                it = it_total / n
                displaced = min(round(it * pue / MINING_PUE, 1), round(displaced_left, 1))
                displaced_left -= displaced
                phase = _phase(rng, f"r{k + 1}", it, pue, T, "retrofit", None)
                phase["displaced_mining_mw"] = displaced
                phases.append(phase)
                ai_it_total += round(it, 1)
            mining_halls[ident] = halls
            site = {
                "id": ident,
                "energization": energization,
                "power_price_usd_per_mwh": round(rng.uniform(35.0, 75.0), 1),
                "mining_infrastructure_mw": halls,
                "uptime_pct": round(rng.uniform(85.0, 95.0), 1),
                "mining_pue": MINING_PUE,
                "mining_opex_usd_per_mw_month": round(rng.uniform(3000.0, 5000.0), 0),
                "ai_phases": phases,
            }
            if rng.random() < 0.3:  # some sites have a power price that drifts
                site["power_price_usd_per_mwh"] = {
                    "start_value": site["power_price_usd_per_mwh"],
                    "growth_pct_per_year": round(rng.uniform(-1.0, 3.0), 2),
                }
        else:
            grid = round(rng.uniform(150.0, 600.0), 0)
            first = rng.randint(6, min(30, max(6, T // 3)))
            energization = [{"from_month": _month(first), "contracted_mw": round(grid / 2, 0)}]
            if rng.random() < 0.6 and first + 6 < T:
                energization.append({"from_month": _month(first + rng.randint(6, 12)),
                                     "contracted_mw": grid})
            else:
                energization[0]["contracted_mw"] = grid
            pue = round(rng.uniform(1.15, 1.3), 2)
            n = counts[i]
            it_total = grid / pue * rng.uniform(0.85, 1.0)
            for k in range(n):
                it = it_total / n
                # Rent may not start before the site is energized: earliest signing so that
                # signing + lead >= first energized month (a fit the power rows enforce anyway).
                phase = _phase(rng, f"g{k + 1}", it, pue, T, "greenfield", None)
                earliest = max(0, first - phase["lead_time_months"])
                if earliest > 0:
                    phase["earliest_signing_month"] = _month(earliest)
                phases.append(phase)
                ai_it_total += round(it, 1)
            site = {
                "id": ident,
                "energization": energization,
                "power_price_usd_per_mwh": 50.0,  # unused: no mining halls
                "mining_infrastructure_mw": 0.0,
                "ai_phases": phases,
            }
        grid_total += grid
        sites.append(site)

    fleet = _fleet(rng, size.generations, mining_halls)
    if size.purchases:
        fleet = _with_purchases(fleet, random.Random(f"capalloc-bench-purchases:{size.seed}"))
    scenarios = _scenarios(rng, size.scenarios)

    # Finance in proportion to the portfolio (CleanSpark: ~1.6 GW, $458M cash, 13.5k BTC,
    # $1.8B converts, $300M revolver, $200M floor), kept feasible with a margin: cash + BTC
    # + revolver cover the converts and the floor even if nothing is mined.
    scale = grid_total / 1600.0
    cash = round(rng.uniform(0.3e9, 0.5e9) * scale, -5)
    btc = round(rng.uniform(8000.0, 14000.0) * scale, 0)
    floor = round(0.12e9 * scale, -5)
    btc_value = btc * 80000.0 * 0.8  # a cautious price (bear scenarios go lower)
    revolver = round(0.3e9 * scale, -5)
    converts_total = max(0.0, 0.75 * (cash + btc_value + revolver - floor))
    debts = []
    maturities = sorted(rng.sample(range(24, max(25, T - 6)), k=min(2, max(1, T - 30))))
    for j, maturity in enumerate(maturities):
        debts.append({
            "id": f"converts_{j + 1}",
            "principal_usd": round(converts_total / len(maturities), -5),
            "coupon_pct_per_year": 0.0,
            "maturity_month": _month(maturity),
        })
    years = T / 12.0
    # Market absorption. The tight draw is always made, so the stream (and the instance apart
    # from its cap) is the same whichever cap is asked for.
    tight_ratio = rng.uniform(0.8, 1.5)
    ratio = tight_ratio if size.signing_cap_ratio is None else size.signing_cap_ratio
    signing_cap = round(max(60.0, ai_it_total / max(1.0, years) * ratio), 0)

    return {
        "name": f"bench_{size.name}".replace("-", "_"),
        "description": f"Synthetic benchmark instance: {size.describe()}.",
        "start": START,
        "horizon_months": T,
        "discount_rate_pct_per_year": 11.0,
        "signing_cap_mw_per_year": signing_cap,
        "sites": sites,
        "fleet": fleet,
        "market": {
            "initial_subsidy_btc_per_block": 3.125,
            "halvings": [{"month": "2028-04", "subsidy_btc_per_block": 1.5625},
                         {"month": "2032-04", "subsidy_btc_per_block": 0.78125}],
            "blocks_per_day": 144.0,
            "scenarios": scenarios,
        },
        "finance": {
            "starting_cash_usd": cash,
            "minimum_cash_usd": floor,
            "btc_held_at_start_btc": btc,
            "btc_treasury_sellable": True,
            "existing_debts": debts,
            "revolver": {"limit_usd": revolver, "rate_pct_per_year": 9.0,
                         "undrawn_fee_pct_per_year": 0.25, "drawn_at_start_usd": 0.0},
            "project_debt": {"loan_to_cost_pct": 75.0, "rate_pct_per_year": 7.5,
                             "amortization_months": 120},
        },
        "terminal": {"btc_haircut_pct": 10.0, "mining_months": 0},
        "solver": {"time_limit_seconds": float(size.time_limit_seconds), "mip_rel_gap": 0.001,
                   "threads": 1, "random_seed": 0},
        "canonical_plan": False,
    }


def _fleet(rng: random.Random, generations: int, halls: dict[str, float]) -> list[dict]:
    """Generations sized to ~85 % of the mining halls, placed site by site at the start."""
    if not halls or generations == 0:
        return []
    total = sum(halls.values()) * rng.uniform(0.8, 0.9)
    weights = [rng.uniform(0.5, 1.5) for _ in range(generations)]
    sizes = [total * w / sum(weights) for w in weights]
    room = dict(halls)
    fleet = []
    for g in range(generations):
        name = GENERATION_NAMES[g % len(GENERATION_NAMES)] + ("" if g < len(GENERATION_NAMES)
                                                              else f"_{g}")
        left = round(sizes[g], 1)
        placement: dict[str, float] = {}
        for site in sorted(room, key=lambda s: (rng.random(), s)):
            if left <= 0:
                break
            take = round(min(left, room[site]), 1)
            if take <= 0:
                continue
            placement[site] = take
            room[site] = round(room[site] - take, 1)
            left = round(left - take, 1)
        installed = round(sum(placement.values()), 1)
        fleet.append({
            "id": name,
            "installed_mw": installed,
            "efficiency_j_per_th": EFFICIENCIES_J_PER_TH[g % len(EFFICIENCIES_J_PER_TH)],
            "sites_at_start": dict(sorted(placement.items())),
            "move_cost_usd_per_mw": 25000.0,
            "salvage_usd_per_mw": round(rng.uniform(0.0, 50000.0), -3),
        })
    return fleet


def _with_purchases(fleet: list[dict], rng: random.Random) -> list[dict]:
    """Issue 13 on top of a generated fleet (its own random stream, so the rest of the instance
    is the one without purchases): DOMAIN's $10-30/TH new, resale falling 30 %/yr, lead 2-4
    months, 30 % deposit, 50 MW a month; and an S23 Hydro not owned at the start."""
    out = []
    for gen in [*fleet, {"id": "s23new", "installed_mw": 0.0, "efficiency_j_per_th": 9.6,
                         "move_cost_usd_per_mw": 25000.0}]:
        price = round(rng.uniform(10.0, 30.0), 1)
        out.append({**gen, "resale_usd_per_th": {"start_value": round(price * 0.4, 1),
                                                 "growth_pct_per_year": -30.0},
                    "purchase": {"price_usd_per_th": {"start_value": price, "growth_pct_per_year": -10.0},
                                 "delivery_lead_months": rng.randint(2, 4), "deposit_pct": 30.0,
                                 "max_mw_per_month": 50.0}})
    return out


def _scenarios(rng: random.Random, count: int) -> list[dict]:
    """base (BTC $80k +10 %/yr, 1,050 EH/s +12 %/yr), then bear/bull variants; equal weights."""
    out = []
    p = round(1.0 / count, 12)
    for i in range(count):
        if i == 0:
            name, price_g, hash_g = "base", 10.0, 12.0
        else:
            name = f"{'bear' if i % 2 else 'bull'}{(i + 1) // 2}"
            shift = rng.uniform(5.0, 15.0) * (1 if i % 2 == 0 else -1)
            price_g, hash_g = 10.0 + shift, 12.0 + rng.uniform(-3.0, 3.0)
        out.append({
            "name": name,
            "probability": p if i < count - 1 else round(1.0 - p * (count - 1), 12),
            "btc_price_usd": {"start_value": 80000.0, "growth_pct_per_year": round(price_g, 2)},
            "network_hashrate_ehs": {"start_value": 1050.0, "growth_pct_per_year": round(hash_g, 2)},
            "fees_btc_per_block": 0.03,
        })
    return out


def feasibility_margin_usd(data: dict) -> float:
    """Cash + cautious BTC value + revolver - floor - converts: > 0 means the do-nothing plan
    (no signing, no mining) holds the liquidity floor in every month."""
    fin = data["finance"]
    converts = sum(d["principal_usd"] for d in fin.get("existing_debts", []))
    revolver = fin["revolver"]["limit_usd"] if fin.get("revolver") else 0.0
    btc = fin["btc_held_at_start_btc"] * 80000.0 * 0.8
    return fin["starting_cash_usd"] + btc + revolver - fin["minimum_cash_usd"] - converts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--phases-per-site", type=float, default=2.0)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--scenarios", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cap-ratio", type=float, default=CLEANSPARK_CAP_RATIO,
                        help="yearly signing cap / average yearly AI potential (default: cleanspark's)")
    parser.add_argument("--tight-cap", action="store_true",
                        help="the stress family's cap, drawn at 0.8-1.5 times (binds for years)")
    args = parser.parse_args(argv)
    size = Size("cli", args.sites, args.months, args.phases_per_site, args.generations,
                args.scenarios, args.seed,
                signing_cap_ratio=None if args.tight_cap else args.cap_ratio)
    json.dump(generate_instance(size), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
