"""Issue 14's acceptance on the CleanSpark example (the fixed-fleet instance the issue was
filed against; each solve takes seconds): with BTC at $50k instead of $80k at the start, the
plan without financing options cannot repay the $1.15B of 2032 converts in cash (no plan holds
the $200M floor in 2032-02), while the same instance offered the financing of the shipped
cleanspark_2026.yaml (its notes program and BTC-backed line in place of the revolver) finds
a plan, says which instruments it used, and passes the independent audit. (The shipped
instance itself, with its fleet decisions, also solves at $50k: a minutes-long run, not
repeated here.)

Why $50k breaks the old plan, by hand: the treasury of 13,561 BTC is worth $678M at $50k
(+10 %/yr: ~$1.08B by 2031), against $1.8B of bullet maturities (2030-06: $650M, 2032-02:
$1.15B) on top of the $200M floor. Mining cannot make up the difference: hashprice at the
start is 50,000 x 144 x 3.155 / 1,050 EH/s = $21.6/PH/day, already under the marginal
fleet's break-even floor of 21.5 J/TH x 24 h x $50/MWh = $25.8/PH/day, so the network cap
holds hashprice at that floor, where an average 16.7 J/TH fleet earns ~$4.4/PH/day over its
$53.3/MWh power before opex and fixed charges: thin. The rents of the phases that can be
funded do not cover both maturities, so only new money (notes, equity) can.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.optimizer.cli import app
from tests.conftest import INSTANCES

pytestmark = pytest.mark.slow  # two CleanSpark solves: ~40 s of CPU

FIXED_FLEET = INSTANCES / "cleanspark_2026_fixed_fleet.yaml"
OFFERED = ("btc_loan", "notes_programs")


def at_50k(source, folder, refinancing: bool = False):
    data = yaml.safe_load(source.read_text())
    data["market"]["btc_price_usd"] = {"start_value": 50000.0, "growth_pct_per_year": 10.0}
    if refinancing:
        shipped = yaml.safe_load((INSTANCES / "cleanspark_2026.yaml").read_text())["finance"]
        del data["finance"]["revolver"]  # the shipped instance's BTC-backed line replaces it
        data["finance"].update({key: shipped[key] for key in OFFERED})
    folder.mkdir()
    path = folder / "cleanspark_50k.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_without_refinancing_the_2032_maturity_breaks_the_floor(tmp_path):
    path = at_50k(FIXED_FLEET, tmp_path / "in")
    result = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "out"), "--mip-gap", "0.01"])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "minimum cash" in text and "2032-02" in text, text
    assert not (tmp_path / "out" / "plan.json").exists()


def test_with_the_shipped_options_the_plan_refinances_and_says_how(tmp_path):
    path = at_50k(FIXED_FLEET, tmp_path / "in", refinancing=True)
    result = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "out"), "--mip-gap", "0.01"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "audit passed" in text
    assert "financing used:" in text and ("notes senior_notes" in text or "BTC-backed loan" in text), text
    from capalloc.optimizer.outputs.plan_io import open_plan_dir

    plan = open_plan_dir(tmp_path / "out").plan
    kpi = plan.kpis[0]
    assert kpi.notes_issued_usd + kpi.btc_loan_peak_usd > 0.0
    # The 2032 converts are repaid in cash (share price $15.03 < $19.16): the cash line shows
    # the whole $1.15B leaving in 2032-02 although BTC started at $50k.
    import pandas as pd

    flows = pd.read_csv(tmp_path / "out" / "cashflow_monthly.csv")
    repaid = flows.loc[flows["month"] == "2032-02", "existing_debt_repayments_usd"].iloc[0]
    assert repaid == pytest.approx(-1.15e9, abs=1.0)
