"""Small pure functions that define the economics: hashprice, rent, capex, debt schedules.

The formulation and the independent audit both call these, so they share the meaning of
a number without sharing model code. Each is tested on its own (tests/test_economics.py).
Ages are months since a phase's signing month: age 0 is the signing month itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TH_PER_EH = 1e6
KW_PER_MW = 1000.0
JOULES_PER_MWS = 1e6  # 1 MW = 1e6 J/s


def btc_per_th_day(
    subsidy_btc_per_block: float, fees_btc_per_block: float, network_hashrate_ehs: float,
    blocks_per_day: float = 144.0,
) -> float:
    """BTC earned per TH/s per day by a price taker: blocks x reward / network TH/s."""
    return blocks_per_day * (subsidy_btc_per_block + fees_btc_per_block) / (
        network_hashrate_ehs * TH_PER_EH
    )


def hashprice_usd_per_th_day(
    btc_price_usd: float, subsidy_btc_per_block: float, fees_btc_per_block: float,
    network_hashrate_ehs: float, blocks_per_day: float = 144.0,
) -> float:
    """Hashprice in USD per TH/s per day (DOMAIN.md: $90k, 3.16 BTC, 1,000 EH/s -> $0.041)."""
    return btc_price_usd * btc_per_th_day(
        subsidy_btc_per_block, fees_btc_per_block, network_hashrate_ehs, blocks_per_day
    )


def th_per_mw(efficiency_j_per_th: float) -> float:
    """Hashrate of one MW of ASIC load in TH/s (16.7 J/TH -> 59,880 TH/s)."""
    return JOULES_PER_MWS / efficiency_j_per_th


def btc_mined_per_mw(
    efficiency_j_per_th: float, btc_per_th_per_day: float, days: int, uptime_pct: float
) -> float:
    """BTC mined in a month by one MW of running ASIC load."""
    return th_per_mw(efficiency_j_per_th) * btc_per_th_per_day * days * uptime_pct / 100.0


def mining_energy_cost_per_mw(
    pue: float, hours: int, uptime_pct: float, power_price_usd_per_mwh: float
) -> float:
    """Power bill in a month for one MW of running ASIC load, USD."""
    return pue * hours * uptime_pct / 100.0 * power_price_usd_per_mwh


HOURS_PER_DAY = 24.0
TH_PER_PH = 1000.0


def breakeven_hashrate_ehs(
    btc_price_usd: float, subsidy_btc_per_block: float, fees_btc_per_block: float,
    efficiency_j_per_th: float, power_price_usd_per_mwh: float, blocks_per_day: float = 144.0,
) -> float:
    """Network hashrate at which a fleet's revenue equals its energy cost (PUE 1, uptime 100 %).

    Per TH/s and day it earns price x blocks x (subsidy + fees) / network TH/s and pays
    J/TH x 24 h / 1e6 MWh x USD/MWh; equal at network TH/s = price x blocks x reward x 1e6 /
    (J/TH x 24 x USD/MWh), i.e. EH/s = price x blocks x reward / (J/TH x 24 x USD/MWh).
    Free power never breaks even: infinite.
    """
    cost = efficiency_j_per_th * HOURS_PER_DAY * power_price_usd_per_mwh
    if cost <= 0.0:
        return float("inf")
    return btc_price_usd * blocks_per_day * (subsidy_btc_per_block + fees_btc_per_block) / cost


def capped_hashrate_ehs(path_ehs: float, breakeven_ehs: float) -> float:
    """DESIGN: the network hashrate is the lower of its path and the marginal fleet's break-even."""
    return min(path_ehs, breakeven_ehs)


def breakeven_hashprice_usd_per_ph_day(efficiency_j_per_th: float, power_price_usd_per_mwh: float) -> float:
    """Hashprice at which a fleet's revenue equals its energy cost: J/TH x 24 h x USD/MWh / 1e6
    per TH/s-day, x 1000 per PH/s-day (17.5 J/TH at $50/MWh -> $21.0/PH/day)."""
    return efficiency_j_per_th * HOURS_PER_DAY * power_price_usd_per_mwh / 1e6 * TH_PER_PH


def btc_per_th_day_from_hashprice(hashprice_usd_per_ph_day: float, btc_price_usd: float) -> float:
    """BTC earned per TH/s per day when hashprice is given in USD per PH/s-day."""
    return hashprice_usd_per_ph_day / TH_PER_PH / btc_price_usd


def usd_per_mw_of_asics(usd_per_th: float, efficiency_j_per_th: float) -> float:
    """Price of one MW of ASIC load from a price per TH/s (1 MW = 1e6 / (J/TH) TH/s)."""
    return usd_per_th * th_per_mw(efficiency_j_per_th)


def curtailment_credit_per_mw(
    credit_usd_per_mwh: float, pue: float, hours: int, uptime_pct: float
) -> float:
    """Credit for one MW of ASIC load curtailed over all of a month's running hours, USD: the
    facility power not drawn (MW x PUE) times the running hours (hours x uptime)."""
    return credit_usd_per_mwh * pue * hours * uptime_pct / 100.0


def subsidy_by_month(
    initial_subsidy: float, halvings: list[tuple[int, float]], months: int
) -> list[float]:
    """Block subsidy per month given (month index, new subsidy) steps; steps act from that month."""
    out = []
    for t in range(months):
        value = initial_subsidy
        for month_index, subsidy in halvings:
            if month_index <= t:
                value = subsidy
        out.append(value)
    return out


def annuity_payment(principal: float, monthly_rate: float, months: int) -> float:
    """Level payment that repays ``principal`` over ``months`` at ``monthly_rate``."""
    if principal == 0.0:
        return 0.0
    if monthly_rate == 0.0:
        return principal / months
    return principal * monthly_rate / (1.0 - (1.0 + monthly_rate) ** (-months))


def capex_schedule(total_capex_usd: float, shares: list[float]) -> list[float]:
    """Capex paid at ages 0.. (share i at the end of signing month + i)."""
    return [total_capex_usd * share for share in shares]


def lease_rent(
    critical_it_mw: float, lease_usd_per_kw_month: float, escalator_pct_per_year: float,
    lease_month: int,
) -> float:
    """Rent earned in lease month j (0 = rent start); steps up on each 12-month anniversary."""
    steps = lease_month // 12
    return critical_it_mw * KW_PER_MW * lease_usd_per_kw_month * (
        1.0 + escalator_pct_per_year / 100.0
    ) ** steps


@dataclass(frozen=True)
class PhaseSchedule:
    """Cash flows of one phase by age since signing (USD, paid at the end of each month)."""

    lead_time_months: int
    term_months: int
    capex: list[float]
    rent_earned: list[float]
    rent_cash: list[float]
    prepayment: list[float]
    opex: list[float]
    debt_draw: list[float]
    debt_interest: list[float]
    debt_principal: list[float]
    debt_balance_end: list[float]
    online: list[int] = field(repr=False)
    debt_interest_capitalized: list[float] = field(default_factory=list, repr=False)
    renewal_rent: list[float] = field(default_factory=list, repr=False)

    @property
    def length(self) -> int:
        return len(self.capex)

    def net(self) -> list[float]:
        """Net cash to the company at each age."""
        return [
            self.rent_cash[a] + self.prepayment[a] - self.opex[a] - self.capex[a]
            + self.debt_draw[a] - self.debt_interest[a] - self.debt_principal[a]
            for a in range(self.length)
        ]

    def net_parts(self) -> tuple[list[float], list[float], list[float]]:
        """Net cash split by what it is proportional to: (lease rate, capex, neither).

        Rent and prepayment scale with the lease rate; capex and every project-debt flow
        scale with the capex; opex scales with neither. The three add up to :meth:`net`.
        """
        rent = [self.rent_cash[a] + self.prepayment[a] for a in range(self.length)]
        capex = [
            -self.capex[a] + self.debt_draw[a] - self.debt_interest[a] - self.debt_principal[a]
            for a in range(self.length)
        ]
        other = [-self.opex[a] for a in range(self.length)]
        return rent, capex, other

    def value(self, name: str, age: int) -> float:
        series = getattr(self, name)
        return series[age] if 0 <= age < len(series) else 0.0


def phase_schedule(
    *,
    critical_it_mw: float,
    capex_usd_per_mw_it: float,
    capex_shares: list[float],
    lead_time_months: int,
    lease_usd_per_kw_month: float,
    escalator_pct_per_year: float,
    term_months: int,
    opex_usd_per_mw_month: float,
    prepayment_months: int,
    loan_to_cost_pct: float = 0.0,
    debt_rate_pct_per_year: float = 0.0,
    amortization_months: int = 1,
    capitalize_interest: bool = False,
    renewal: Renewal | None = None,
) -> PhaseSchedule:
    """Every cash flow of a phase by age, following DESIGN.md's timing conventions.

    Capex share i is paid at age i; rent is earned at ages L .. L+term-1 with the escalator
    stepping every 12 rent months; a prepayment of N months of rent arrives at age 0 and
    replaces the first N rent payments; project debt is drawn with capex at the loan-to-cost
    share, pays interest monthly on the balance at the start of the month, and amortizes in
    level payments over the amortization months from the first rent month.

    With ``capitalize_interest`` the interest of the months before rent start is added to the
    balance (compounding monthly) instead of paid; the annuity then repays that balance. A
    ``renewal`` adds its expected rent (probability x share x the term's last month's rent,
    flat) and expected opex (probability x opex) for its term after the lease's; the facility
    keeps its power for the renewal (the tenant holds the option).
    """
    lead, term = lead_time_months, term_months
    extra = renewal.term_months if renewal is not None else 0
    length = max(lead + term + extra, lead + amortization_months if loan_to_cost_pct > 0 else 0,
                 len(capex_shares))
    zeros = [0.0] * length
    capex = zeros.copy()
    for age, amount in enumerate(capex_schedule(critical_it_mw * capex_usd_per_mw_it, capex_shares)):
        capex[age] = amount

    rent_earned = zeros.copy()
    opex = zeros.copy()
    online = [0] * length
    for j in range(term):
        rent_earned[lead + j] = lease_rent(
            critical_it_mw, lease_usd_per_kw_month, escalator_pct_per_year, j
        )
        opex[lead + j] = critical_it_mw * opex_usd_per_mw_month
        online[lead + j] = 1
    renewal_rent = zeros.copy()
    if renewal is not None:
        last_rent = lease_rent(critical_it_mw, lease_usd_per_kw_month, escalator_pct_per_year, term - 1)
        for j in range(renewal.term_months):
            age = lead + term + j
            renewal_rent[age] = expected_renewal_rent(last_rent, renewal)
            rent_earned[age] = renewal_rent[age]
            opex[age] = renewal.probability * critical_it_mw * opex_usd_per_mw_month
            online[age] = 1
    rent_cash = rent_earned.copy()
    prepayment = zeros.copy()
    for j in range(prepayment_months):
        prepayment[0] += rent_earned[lead + j]
        rent_cash[lead + j] = 0.0

    draw = [c * loan_to_cost_pct / 100.0 for c in capex]
    interest = zeros.copy()
    principal = zeros.copy()
    balance = zeros.copy()
    capitalized = zeros.copy()
    rate = debt_rate_pct_per_year / 100.0 / 12.0
    payment = 0.0
    previous = 0.0
    for age in range(length):
        interest[age] = previous * rate
        if capitalize_interest and age < lead:
            capitalized[age], interest[age] = interest[age], 0.0
        if age == lead:
            payment = annuity_payment(previous, rate, amortization_months)
        if lead <= age < lead + amortization_months and previous > 0.0:
            principal[age] = min(previous, payment - interest[age])
        balance[age] = previous + draw[age] + capitalized[age] - principal[age]
        previous = balance[age]
    return PhaseSchedule(
        lead_time_months=lead, term_months=term, capex=capex, rent_earned=rent_earned,
        rent_cash=rent_cash, prepayment=prepayment, opex=opex, debt_draw=draw,
        debt_interest=interest, debt_principal=principal, debt_balance_end=balance, online=online,
        debt_interest_capitalized=capitalized, renewal_rent=renewal_rent,
    )


@dataclass(frozen=True)
class Renewal:
    """Renewal terms of a lease, in the units economics uses (probability 0-1, share %)."""

    probability: float
    rent_share_pct: float
    term_months: int


def expected_renewal_rent(last_rent_usd: float, renewal: Renewal) -> float:
    """Expected monthly rent of a renewal: probability x share x the term's last rent."""
    return renewal.probability * renewal.rent_share_pct / 100.0 * last_rent_usd


def phase_terminal_value(
    schedule: PhaseSchedule, signing_index: int, horizon_months: int, monthly_discount: list[float]
) -> float:
    """Value at the end of the last month of a phase signed in month ``signing_index``.

    Net rent (rent cash - opex) still contracted after the horizon minus capex still owed
    after it, each discounted from the end of the horizon (``monthly_discount[j-1]`` is the
    factor of the j-th month after the end), minus project debt outstanding at the end.
    """
    return sum(phase_terminal_value_parts(schedule, signing_index, horizon_months, monthly_discount))


def phase_terminal_value_parts(
    schedule: PhaseSchedule, signing_index: int, horizon_months: int, monthly_discount: list[float]
) -> tuple[float, float, float]:
    """:func:`phase_terminal_value` split into (lease-rate, capex, other) proportional parts."""
    last_age = horizon_months - 1 - signing_index
    rent = capex = other = 0.0
    for age in range(max(last_age + 1, 0), schedule.length):
        j = age - last_age
        if j - 1 >= len(monthly_discount):
            break
        factor = monthly_discount[j - 1]
        rent += schedule.rent_cash[age] * factor
        other -= schedule.opex[age] * factor
        capex -= schedule.capex[age] * factor
    if 0 <= last_age < schedule.length:
        capex -= schedule.debt_balance_end[last_age]
    return rent, capex, other


def existing_debt_schedule(
    principal_usd: float, coupon_pct_per_year: float, maturity_index: int, months: int
) -> tuple[list[float], list[float], list[float]]:
    """Coupon paid, principal repaid and balance at each month's end of a bullet debt."""
    coupon, repaid, balance = [], [], []
    for t in range(months):
        outstanding = principal_usd if t <= maturity_index else 0.0
        coupon.append(outstanding * coupon_pct_per_year / 100.0 / 12.0)
        repaid.append(principal_usd if t == maturity_index else 0.0)
        balance.append(principal_usd if t < maturity_index else 0.0)
    return coupon, repaid, balance
