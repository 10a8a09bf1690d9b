"""`capalloc scenarios`: the seeded scenario-tree generator (issue 15 item 4).

Reference numbers are computed here from the GBM's closed form (E[S_t] = S_0 exp(mu t),
ln S_t ~ N(ln S_0 + (mu - sigma^2/2) t, sigma^2 t)) and from the written files read with the
csv module, never from the generator's own summary. Sampling checks allow 4 standard errors
(derived in each test), so a correct sampler fails them about once in 16,000 runs per check;
the seeds are fixed, so they either always pass or always fail.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from capalloc.models.instance import Market
from capalloc.models.loader import validate_instance_data
from tests.conftest import INSTANCES
from tests.test_cli import flat, run_cli

# tiny.yaml: 36 months from 2026-07, BTC 90,000 USD, hashrate 1,000 EH/s, one phase alpha.hall1
# with a 12-month lead time.
S0, H0, START, MONTHS = 90000.0, 1000.0, "2026-07", 36
MU, SIGMA, MU_H, SIGMA_H, RHO = 0.10, 0.60, 0.12, 0.30, 0.5
B1, B2 = 6, 18  # 2027-01 and 2028-01 as month indices

SPEC: dict[str, Any] = {
    "seed": 11,
    "branching_months": ["2027-01", "2028-01"],
    "branches_per_stage": [3, 3],
    "btc_drift_pct_per_year": MU * 100,
    "btc_volatility_pct_per_year": SIGMA * 100,
    "hashrate_drift_pct_per_year": MU_H * 100,
    "hashrate_volatility_pct_per_year": SIGMA_H * 100,
    "hashrate_btc_correlation": RHO,
    "samples": 9000,
}


def log_mean(t: int) -> float:
    return math.log(S0) + (MU - SIGMA**2 / 2) * t / 12


def log_var(t: int) -> float:
    return SIGMA**2 * t / 12


def setup(folder: Path, spec: dict[str, Any], instance: str = "tiny.yaml") -> tuple[Path, Path]:
    shutil.copy(INSTANCES / instance, folder / "base.yaml")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder / "base.yaml", folder / "spec.yaml"


def generate(folder: Path, spec: dict[str, Any], *extra: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Run the CLI; return the written instance data and the paths CSV by column."""
    base, spec_file = setup(folder, spec)
    result = run_cli("scenarios", base, "--spec", spec_file, "-o", folder / "tree.yaml", *extra, cwd=folder)
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load((folder / "tree.yaml").read_text())
    with open(folder / "tree.paths.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return data, {column: [row[column] for row in rows] for column in rows[0]}


def scenario_paths(data: dict[str, Any], columns: dict[str, list[str]]
                   ) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(scenario entry, BTC prices, hashrates) of every written scenario, via its CSV columns."""
    out = []
    for scenario in data["market"]["scenarios"]:
        btc = np.array([float(v) for v in columns[scenario["btc_price_usd"]["column"]]])
        hashrate = np.array([float(v) for v in columns[scenario["network_hashrate_ehs"]["column"]]])
        out.append((scenario, btc, hashrate))
    return out


@pytest.fixture(scope="module")
def tree_3x3(tmp_path_factory) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return generate(tmp_path_factory.mktemp("tree"), SPEC)


# --- the sampler against the closed form --------------------------------------------------------

def test_gbm_helpers_match_hand_figures():
    from capalloc.optimizer.scenarios.scenario_sampling import Gbm

    gbm = Gbm(80000.0, 0.10, 0.50)
    # E[S_12] = 80,000 x e^0.1 = 80,000 x 1.1051709181 = 88,413.67
    assert gbm.level_mean(12) == pytest.approx(88413.6734, rel=1e-9)
    # E[ln S_24] = ln 80,000 + (0.10 - 0.125) x 2 = 11.2897819137 - 0.05
    assert gbm.log_mean(24) == pytest.approx(11.2397819137, abs=1e-9)
    assert gbm.log_variance(18) == pytest.approx(0.25 * 1.5)


def test_sampled_paths_have_the_closed_form_moments():
    from capalloc.optimizer.scenarios.scenario_sampling import Gbm, sample_log_paths

    n = 40000
    log_btc, log_hash = sample_log_paths(3, n, 25, Gbm(S0, MU, SIGMA), Gbm(H0, MU_H, SIGMA_H), RHO)
    assert log_btc.shape == (n, 25) and np.all(log_btc[:, 0] == math.log(S0))
    for t in (1, 12, 24):
        years = t / 12
        prices = np.exp(log_btc[:, t])
        # Var[S_t] = S_0^2 e^(2 mu t) (e^(sigma^2 t) - 1); the mean's standard error is sqrt(Var/n)
        expected = S0 * math.exp(MU * years)
        se = math.sqrt(S0**2 * math.exp(2 * MU * years) * (math.exp(SIGMA**2 * years) - 1) / n)
        assert abs(prices.mean() - expected) < 4 * se
        # ln S_t: mean's SE sigma sqrt(t / n); the sample variance's SE var sqrt(2 / (n - 1))
        assert abs(log_btc[:, t].mean() - log_mean(t)) < 4 * math.sqrt(log_var(t) / n)
        assert abs(log_btc[:, t].var(ddof=1) - log_var(t)) < 4 * log_var(t) * math.sqrt(2 / (n - 1))
        hash_expected = H0 * math.exp(MU_H * years)
        hash_se = math.sqrt(H0**2 * math.exp(2 * MU_H * years) * (math.exp(SIGMA_H**2 * years) - 1) / n)
        assert abs(np.exp(log_hash[:, t]).mean() - hash_expected) < 4 * hash_se


@pytest.mark.parametrize("rho", [0.5, -0.3, 0.0])
def test_sampled_log_returns_have_the_input_correlation(rho):
    from capalloc.optimizer.scenarios.scenario_sampling import Gbm, sample_log_paths

    n, months = 5000, 13
    log_btc, log_hash = sample_log_paths(5, n, months, Gbm(S0, MU, SIGMA), Gbm(H0, MU_H, SIGMA_H), rho)
    returns = n * (months - 1)
    sampled = np.corrcoef(np.diff(log_btc, axis=1).ravel(), np.diff(log_hash, axis=1).ravel())[0, 1]
    # the sample correlation's standard error is about (1 - rho^2) / sqrt(pairs)
    assert abs(sampled - rho) < 4 * (1 - rho**2) / math.sqrt(returns)


# --- the written 3 x 3 tree ---------------------------------------------------------------------

def test_tree_probabilities_sum_to_one_and_are_equal_quantiles(tree_3x3):
    data, _ = tree_3x3
    scenarios = data["market"]["scenarios"]
    assert len(scenarios) == 9
    probabilities = [s["probability"] for s in scenarios]
    assert math.fsum(probabilities) == pytest.approx(1.0, abs=1e-12)
    # 9,000 paths cut into thirds and thirds again: 1,000 paths, 1/9 each (to 6 decimals)
    assert all(abs(p - 1 / 9) <= 1e-6 for p in probabilities)
    assert data["market"]["branching_months"] == ["2027-01", "2028-01"]
    assert sorted(tuple(s["tree_path"]) for s in scenarios) == [
        (f"q{i}", f"q{j}") for i in (1, 2, 3) for j in (1, 2, 3)]


TOLERANCE_LOG_MEAN = 1e-6  # prices are written to the cent: ln error below 0.01 / 10,000 = 1e-6
TOLERANCE_LOG_VAR_REL = 1e-5


def test_tree_matches_log_mean_and_variance_in_every_branched_month(tree_3x3):
    data, columns = tree_3x3
    paths = scenario_paths(data, columns)
    p = np.array([s["probability"] for s, _, _ in paths])
    for t in range(B1, MONTHS):
        logs = np.log([btc[t] for _, btc, _ in paths])
        mean = float((p * logs).sum())
        assert mean == pytest.approx(log_mean(t), abs=TOLERANCE_LOG_MEAN), t
        variance = float((p * (logs - mean) ** 2).sum())
        assert variance == pytest.approx(log_var(t), rel=TOLERANCE_LOG_VAR_REL), t
        hash_mean = float((p * np.log([h[t] for _, _, h in paths])).sum())
        assert hash_mean == pytest.approx(math.log(H0) + (MU_H - SIGMA_H**2 / 2) * t / 12, abs=1e-6)


def test_tree_keeps_the_hashrate_price_covariance(tree_3x3):
    """Cov(ln S_t, ln H_t) = rho sigma sigma_H t for the GBMs; the tree carries it along its
    price branches within sampling error (10 % here, 1,000 paths per leaf)."""
    data, columns = tree_3x3
    paths = scenario_paths(data, columns)
    p = np.array([s["probability"] for s, _, _ in paths])
    for t in (B1, B2, MONTHS - 1):
        x = np.log([btc[t] for _, btc, _ in paths])
        y = np.log([h[t] for _, _, h in paths])
        cov = float((p * (x - (p * x).sum()) * (y - (p * y).sum())).sum())
        assert cov == pytest.approx(RHO * SIGMA * SIGMA_H * t / 12, rel=0.10), t


def test_shared_history_has_identical_inputs(tree_3x3):
    data, columns = tree_3x3
    paths = scenario_paths(data, columns)
    for t in range(MONTHS):
        for a, btc_a, hash_a in paths:
            for b, btc_b, hash_b in paths:
                shared = t < B1 or (t < B2 and a["tree_path"][0] == b["tree_path"][0]) or a is b
                if shared:
                    assert (btc_a[t], hash_a[t]) == (btc_b[t], hash_b[t]), (t, a["name"], b["name"])
    # the branches differ from their branching month on: q1 below q3 at 2027-01
    first = {s["tree_path"][0]: btc[B1] for s, btc, _ in paths}
    assert first["q1"] < first["q2"] < first["q3"]


def test_before_the_first_branch_the_path_is_the_expected_price(tree_3x3):
    data, columns = tree_3x3
    _, btc, hashrate = scenario_paths(data, columns)[0]
    for t in range(B1):  # S_0 exp(mu t), written to the cent
        assert btc[t] == pytest.approx(S0 * math.exp(MU * t / 12), abs=0.005)
        assert hashrate[t] == pytest.approx(H0 * math.exp(MU_H * t / 12), abs=0.00005)


def test_fees_are_kept_from_the_base_scenario(tree_3x3):
    data, _ = tree_3x3
    assert all(s["fees_btc_per_block"] == 0.03 for s in data["market"]["scenarios"])
    assert "btc_price_usd" not in data["market"]  # the shorthand's series went into the scenarios


def _without_tree_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Until the tree model lands (another branch), load what the current model knows."""
    if "branching_months" in Market.model_fields:
        return data
    data = yaml.safe_load(yaml.safe_dump(data))
    data["market"].pop("branching_months")
    for scenario in data["market"]["scenarios"]:
        scenario.pop("tree_path")
    for site in data["sites"]:
        for phase in site.get("ai_phases", []):
            phase.pop("lead_time_months_by_scenario", None)
    return data


def test_written_instance_validates(tmp_path):
    data, _ = generate(tmp_path, SPEC)
    instance = validate_instance_data(_without_tree_fields(data), "tree.yaml", base_dir=tmp_path)
    assert len(instance.market.scenarios) == 9
    assert math.fsum(s.probability for s in instance.market.scenarios) == pytest.approx(1.0, abs=1e-12)


# --- other reductions, matching and slips -------------------------------------------------------

def test_kmeans_tree_matches_moments_with_unequal_probabilities(tmp_path):
    data, columns = generate(tmp_path, {**SPEC, "reduction": "kmeans"})
    paths = scenario_paths(data, columns)
    p = np.array([s["probability"] for s, _, _ in paths])
    assert math.fsum(p) == pytest.approx(1.0, abs=1e-12)
    assert p.max() - p.min() > 0.01  # clusters of paths, not equal quantiles
    for t in (B1, B2, MONTHS - 1):
        logs = np.log([btc[t] for _, btc, _ in paths])
        mean = float((p * logs).sum())
        assert mean == pytest.approx(log_mean(t), abs=TOLERANCE_LOG_MEAN)
        assert float((p * (logs - mean) ** 2).sum()) == pytest.approx(log_var(t), rel=TOLERANCE_LOG_VAR_REL)


def test_level_matching_gives_the_expected_price_and_the_log_variance(tmp_path):
    data, columns = generate(tmp_path, {**SPEC, "moment_matching": "level"})
    paths = scenario_paths(data, columns)
    p = np.array([s["probability"] for s, _, _ in paths])
    for t in range(B1, MONTHS):
        prices = np.array([btc[t] for _, btc, _ in paths])
        assert float((p * prices).sum()) == pytest.approx(S0 * math.exp(MU * t / 12), rel=1e-7)
        logs = np.log(prices)
        mean = float((p * logs).sum())
        assert float((p * (logs - mean) ** 2).sum()) == pytest.approx(log_var(t), rel=TOLERANCE_LOG_VAR_REL)


SLIPS = {"probability_by_slip_months": {0: 0.5, 2: 0.3, 4: 0.2}}


def test_slips_cross_the_market_branches_with_their_probabilities(tmp_path):
    spec = {**SPEC, "branches_per_stage": [3, 2], "lead_time_slips": SLIPS}
    data, columns = generate(tmp_path, spec)
    scenarios = data["market"]["scenarios"]
    assert len(scenarios) == 3 * 3 * 2
    lead = data["sites"][0]["ai_phases"][0]["lead_time_months_by_scenario"]
    assert set(lead) == {s["name"] for s in scenarios}
    by_slip: dict[int, float] = {}
    for s in scenarios:
        slip = lead[s["name"]] - 12  # tiny's hall1 takes 12 months
        assert s["tree_path"][0].endswith(f"-slip{slip}")  # learnt at the first branching month
        by_slip[slip] = by_slip.get(slip, 0.0) + s["probability"]
    # each written probability is within 1e-6 of its exact value (millionths): 6 per slip
    assert by_slip == pytest.approx({0: 0.5, 2: 0.3, 4: 0.2}, abs=6e-6)
    # slip siblings share the market: one BTC column content per market leaf, 6 leaves
    paths = scenario_paths(data, columns)
    assert len({tuple(btc) for _, btc, _ in paths}) == 6
    for s, _, _ in paths:  # each market leaf's probability is 1/6, split 0.5 / 0.3 / 0.2
        slip = lead[s["name"]] - 12
        assert s["probability"] == pytest.approx({0: 0.5, 2: 0.3, 4: 0.2}[slip] / 6, abs=1e-6)


def test_slips_learnt_later_with_one_market_branch(tmp_path):
    spec = {**SPEC, "branches_per_stage": [3, 1],
            "lead_time_slips": {**SLIPS, "learnt_at": "2028-01", "phases": ["alpha.hall1"]}}
    data, _ = generate(tmp_path, spec)
    paths = [tuple(s["tree_path"]) for s in data["market"]["scenarios"]]
    assert paths[:3] == [("q1", "q1-slip0"), ("q1", "q1-slip2"), ("q1", "q1-slip4")]
    assert len(paths) == 9


# --- determinism --------------------------------------------------------------------------------

def test_same_seed_same_bytes_different_seed_different_paths(tmp_path):
    folders = [tmp_path / name for name in ("a", "b", "c")]
    for folder, seed in zip(folders, (11, 11, 12), strict=True):
        folder.mkdir()
        generate(folder, {**SPEC, "seed": seed})
    same = [(f / "tree.yaml").read_bytes() + (f / "tree.paths.csv").read_bytes() for f in folders[:2]]
    assert same[0] == same[1]
    assert (folders[0] / "tree.paths.csv").read_bytes() != (folders[2] / "tree.paths.csv").read_bytes()
    # a different seed moves the branches' paths (the moments stay matched, the shapes do not)
    with open(folders[0] / "tree.paths.csv") as a, open(folders[2] / "tree.paths.csv") as c:
        first, third = list(csv.DictReader(a)), list(csv.DictReader(c))
    assert first[-1]["q1_q2.btc_price_usd"] != third[-1]["q1_q2.btc_price_usd"]
    header = (folders[0] / "tree.yaml").read_text().splitlines()
    assert header[0].startswith("# Generated by `capalloc scenarios`")
    assert any("seed 11" in line for line in header[:8])


# --- bad input and the output contract ----------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"branching_months": ["2027-01", "2030-01"]}, "branching_months[1]"),
    ({"branching_months": ["2026-07", "2028-01"]}, "branching_months[0]"),
    ({"branching_months": ["2028-01", "2027-01"]}, "branching_months"),
    ({"branches_per_stage": [3]}, "branches_per_stage"),
    ({"lead_time_slips": {"probability_by_slip_months": {0: 0.5, 4: 0.4}}},
     "lead_time_slips.probability_by_slip_months"),
    ({"lead_time_slips": {**SLIPS, "phases": ["alpha.nope"]}}, "lead_time_slips.phases[0]"),
    ({"lead_time_slips": {"probability_by_slip_months": {0: 0.5, 40: 0.5}}},
     "lead_time_slips.probability_by_slip_months[40]"),
    ({"lead_time_slips": {**SLIPS, "learnt_at": "2027-02"}}, "lead_time_slips.learnt_at"),
    ({"hashrate_btc_correlation": 1.2}, "hashrate_btc_correlation"),
    ({"btc_volatility_pct_per_year": 0}, "btc_volatility_pct_per_year"),
    ({"samples": 50}, "samples"),
    ({"reduction": "median"}, "reduction"),
    ({"base_scenario": "bull"}, "base_scenario"),
    ({"seeds": 3}, "seeds"),
])
def test_bad_spec_exits_2_naming_the_field_and_writes_nothing(tmp_path, change, field):
    base, spec = setup(tmp_path, {**SPEC, **change})
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("scenarios", base, "--spec", spec, "-o", tmp_path / "tree.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{field}:" in flat(result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_refuses_files_it_did_not_write_and_replaces_its_own(tmp_path):
    base, spec = setup(tmp_path, SPEC)
    (tmp_path / "tree.paths.csv").write_text("mine\n")
    result = run_cli("scenarios", base, "--spec", spec, "-o", tmp_path / "tree.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "did not write it" in flat(result.stderr)
    assert (tmp_path / "tree.paths.csv").read_text() == "mine\n" and not (tmp_path / "tree.yaml").exists()
    (tmp_path / "tree.paths.csv").unlink()
    fresh = run_cli("scenarios", base, "--spec", spec, "-o", tmp_path / "tree.yaml", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    first = (tmp_path / "tree.yaml").read_bytes()
    again = run_cli("scenarios", base, "--spec", spec, "-o", tmp_path / "tree.yaml", cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "tree.yaml").read_bytes() == first
    result = run_cli("scenarios", base, "--spec", spec, "-o", base, cwd=tmp_path)  # the input itself
    assert result.returncode == 2 and "did not write it" in flat(result.stderr)


def test_refuses_an_instance_with_several_scenarios_without_a_base(tmp_path):
    data = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    series = {k: data["market"].pop(k) for k in ("btc_price_usd", "network_hashrate_ehs")}
    fees = data["market"].pop("fees_btc_per_block")
    data["sites"][0]["power_price_by_scenario_usd_per_mwh"] = {"bull": 60.0, "bear": 40.0}
    data["market"]["scenarios"] = [{"name": "bull", "probability": 0.5, "fees_btc_per_block": fees, **series},
                                   {"name": "bear", "probability": 0.5, "fees_btc_per_block": 0.05, **series}]
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    result = run_cli("scenarios", "two.yaml", "--spec", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "base_scenario:" in flat(result.stderr)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**SPEC, "base_scenario": "bear"}))
    result = run_cli("scenarios", "two.yaml", "--spec", "spec.yaml", "--plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "spec.yaml", "two.tree.fan.png", "two.tree.paths.csv", "two.tree.yaml", "two.yaml"]
    assert (tmp_path / "two.tree.fan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tree = yaml.safe_load((tmp_path / "two.tree.yaml").read_text())
    names = [s["name"] for s in tree["market"]["scenarios"]]
    # the base's power price and fees hold in every branch; bull's are gone with bull
    assert tree["sites"][0]["power_price_by_scenario_usd_per_mwh"] == {name: 40.0 for name in names}
    assert {s["fees_btc_per_block"] for s in tree["market"]["scenarios"]} == {0.05}
    validate_instance_data(_without_tree_fields(tree), "two.tree.yaml", base_dir=tmp_path)


def test_refuses_a_base_with_a_direct_hashprice_and_an_existing_tree(tmp_path):
    data = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    data["market"]["scenarios"] = [{"name": "base", "hashprice_usd_per_ph_day": 40.0, **{
        k: data["market"].pop(k) for k in ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block")}}]
    (tmp_path / "direct.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    result = run_cli("scenarios", "direct.yaml", "--spec", "spec.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "market.scenarios[base].hashprice_usd_per_ph_day:" in flat(result.stderr)
    data["market"]["scenarios"][0].pop("hashprice_usd_per_ph_day")
    data["market"]["branching_months"] = ["2027-01"]
    data["market"]["scenarios"][0]["tree_path"] = ["only"]  # a valid (one-branch) tree
    (tmp_path / "direct.yaml").write_text(yaml.safe_dump(data))
    result = run_cli("scenarios", "direct.yaml", "--spec", "spec.yaml", cwd=tmp_path)
    # a valid tree passes the instance model and is refused by the generator
    assert result.returncode == 2 and "market.branching_months:" in flat(result.stderr), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.yaml", "spec.yaml"]


def test_an_instance_reading_csv_files_is_written_beside_them(tmp_path):
    data = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    data["sites"][0]["power_price_usd_per_mwh"] = {"csv": "power.csv", "column": "usd"}
    (tmp_path / "power.csv").write_text("month,usd\n" + "".join(
        f"{2026 + (6 + t) // 12}-{(6 + t) % 12 + 1:02d},50\n" for t in range(MONTHS)))
    (tmp_path / "in.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    (tmp_path / "elsewhere").mkdir()
    result = run_cli("scenarios", "in.yaml", "--spec", "spec.yaml", "-o", "elsewhere/t.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "write it into" in flat(result.stderr)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    result = run_cli("scenarios", "in.yaml", "--spec", "spec.yaml", "-o", "t.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tree = yaml.safe_load((tmp_path / "t.yaml").read_text())
    validate_instance_data(_without_tree_fields(tree), "t.yaml", base_dir=tmp_path)


def test_a_slip_past_60_months_of_lead_time_names_the_field():
    from capalloc.models.scenario_spec import ScenarioSpecError, validate_spec_data
    from capalloc.optimizer.scenarios.scenario_gen import generate_tree

    data = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    data["sites"][0]["ai_phases"][0]["lead_time_months"] = 30
    instance = validate_instance_data(data, "tiny.yaml")
    # 30 months + a 36-month slip = 66 > 60, the most an AI phase's lead time may be
    spec = validate_spec_data({**SPEC, "lead_time_slips": {"probability_by_slip_months": {0: 0.5, 36: 0.5}}})
    with pytest.raises(ScenarioSpecError) as caught:
        generate_tree(instance, spec, "spec.yaml")
    assert [p.path for p in caught.value.problems] == ["lead_time_slips.probability_by_slip_months"]
    assert "alpha.hall1" in caught.value.problems[0].message


@pytest.mark.parametrize(("spec_name", "count"),
                         [("cleanspark_3x3.yaml", 9), ("cleanspark_3x3_slip.yaml", 18),
                          ("cleanspark_27.yaml", 3 * 3 * 3)])  # BTC x slip x BTC
def test_the_example_specs_branch_cleanspark(spec_name, count):
    from capalloc.models.loader import load_instance
    from capalloc.models.scenario_spec import load_scenario_spec
    from capalloc.optimizer.scenarios.scenario_gen import generate_tree

    spec = load_scenario_spec(INSTANCES / "scenario_specs" / spec_name)
    tree = generate_tree(load_instance(INSTANCES / "cleanspark_2026.yaml"), spec, spec_name)
    assert len(tree.scenarios) == count
    assert tree.btc.start == 80000.0 and tree.hashrate.start == 1050.0  # the instance's 2026-07 values


def test_a_json_spec_reads_like_yaml(tmp_path):
    import json

    from capalloc.models.scenario_spec import load_scenario_spec

    (tmp_path / "spec.json").write_text(json.dumps({**SPEC, "lead_time_slips": SLIPS}))  # keys "0", "2", "4"
    spec = load_scenario_spec(tmp_path / "spec.json")
    assert spec.lead_time_slips is not None
    assert spec.lead_time_slips.probability_by_slip_months == {0: 0.5, 2: 0.3, 4: 0.2}
