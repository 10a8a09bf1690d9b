"""The input contract (issue 12): capalloc reads only regular files inside the instance's folder,
reads YAML with YAML 1.2 numbers and refuses duplicate keys, bounds what it reads, and echoes
user text to the terminal without letting it steer the terminal or rich.

Each test states what the code before this contract did with the same input."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from capalloc.models.loader import InstanceError, Problem, instance_fingerprint, load_instance
from capalloc.models.reading import (
    MAX_CSV_BYTES,
    MAX_DEPTH,
    MAX_INSTANCE_BYTES,
    ReadError,
    parse_yaml,
    printable,
)
from capalloc.models.sweep import SweepSpecError, load_sweep_spec
from capalloc.optimizer.sweep.expand import expand_file
from tests.test_cli import (
    flat,
    horizon_months,
    run_cli,
    run_cli_many,
    valid_data,
    write_instance,
    write_prices_csv,
)

PRICE_FIELD = "sites[alpha].power_price_usd_per_mwh"
SECRET = "SECRET-7f3a"  # stands for /etc/passwd or /proc/self/environ: must never be echoed


def price(month: str) -> float:
    """A price that differs month by month, so a value read is traceable to its row."""
    return 30.0 + int(month[5:])


def csv_instance(folder: Path, csv_name: str = "prices.csv") -> Path:
    data = valid_data()
    data["sites"][0]["power_price_usd_per_mwh"] = {"csv": csv_name, "column": "usd"}
    return write_instance(folder, data)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InstanceError) as caught:
        load_instance(path)
    return [str(p) for p in caught.value.problems]


def unwrapped(text: str) -> str:
    """Console text without the line breaks rich puts into long words (and all spaces)."""
    return re.sub(r"\s+", "", text)


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


# ------------------------------------------------------------ 1. files only inside the folder


def outside_valid_csv(tmp_path: Path) -> Path:
    """A well-formed price file outside the instance's folder (before: read and solved)."""
    target = tmp_path / "outside" / "prices.csv"
    write_prices_csv(target, horizon_months(), price)
    return target


def outside_secret(tmp_path: Path) -> Path:
    """A file that is not a CSV (before: its first line was quoted in the error)."""
    target = tmp_path / "outside" / "environ"
    target.parent.mkdir(parents=True)
    target.write_text(f"{SECRET}=hunter2\nroot:x:0:0:root:/root:/bin/bash\n")
    return target


@pytest.mark.parametrize("make_target", [outside_valid_csv, outside_secret])
@pytest.mark.parametrize("how", ["file_link", "folder_link"])
def test_csv_linked_outside_the_folder_is_refused_unread(tmp_path, make_target, how):
    target = make_target(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    if how == "file_link":
        (folder / "prices.csv").symlink_to(target)
        name = "prices.csv"
    else:  # a folder inside that is a link to a folder outside
        (folder / "data").symlink_to(target.parent, target_is_directory=True)
        name = f"data/{target.name}"
    instance = csv_instance(folder, name)
    result = run_cli("validate", instance, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    message = flat(result.stderr)
    assert (f"{PRICE_FIELD}.csv: CSV file '{name}' lies outside the instance file's folder (through a "
            "symbolic link); copy the file into the instance file's folder") in message
    assert SECRET not in message and "root:" not in message
    no_traceback(result)


def test_fingerprint_does_not_read_a_csv_linked_outside(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "prices.csv").symlink_to(outside_valid_csv(tmp_path))
    with pytest.raises(InstanceError) as caught:  # before: hashed the outside file's bytes
        instance_fingerprint(csv_instance(folder))
    assert "outside the instance file's folder" in str(caught.value.problems[0])


def test_link_that_stays_inside_the_folder_is_read(tmp_path):
    folder = tmp_path / "in"
    write_prices_csv(folder / "series" / "2027.csv", horizon_months(), price)
    (folder / "prices.csv").symlink_to(Path("series") / "2027.csv")
    instance = load_instance(csv_instance(folder))
    series = instance.sites[0].power_price_usd_per_mwh
    # Row by row from price(): 2027-01 -> 31, ..., 2027-12 -> 42.
    assert series.values("2027-01", 12) == [31.0 + t for t in range(12)]


def test_instance_given_as_a_directory_or_fifo(tmp_path):
    fifo = tmp_path / "instance.yaml"
    os.mkfifo(fifo)
    # Before: both said "file not found". A FIFO must not even be opened (it would block).
    for target, expected in [(tmp_path, "is a directory"), (fifo, "not a regular file")]:
        result = run_cli("validate", target, cwd=tmp_path)
        assert result.returncode == 2
        assert expected in flat(result.stderr) and "not found" not in result.stderr
        no_traceback(result)


def test_csv_that_is_a_fifo_is_refused_without_opening_it(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "prices.csv")
    messages = problems_of(csv_instance(folder))  # returns: nothing blocked on the FIFO
    assert messages == [f"{PRICE_FIELD}.csv: CSV file 'prices.csv' is not a regular file; "
                        "give the path of the file itself"]


# ------------------------------------------------------------ 2. YAML 1.2, duplicates, BOM, months


def instance_text(**raw: str) -> str:
    """The valid instance as YAML with some top-level scalars written verbatim."""
    text = yaml.safe_dump(valid_data(), sort_keys=False)
    for key, token in raw.items():
        text, count = re.subn(rf"^{key}: .*$", f"{key}: {token}", text, flags=re.M)
        assert count == 1, key
    return text


def test_yaml_1_2_numbers(tmp_path):
    file = tmp_path / "instance.yaml"
    # Before (YAML 1.1): 012 was octal 10, 1e7 a string ("write a number without quotes").
    file.write_text(instance_text(horizon_months="012", discount_rate_pct_per_year="1e1")
                    .replace("starting_cash_usd: 10000000.0", "starting_cash_usd: 1e7"))
    instance = load_instance(file)
    assert instance.horizon_months == 12
    assert instance.discount_rate_pct_per_year == 10.0
    assert instance.finance.starting_cash_usd == 10_000_000.0
    parsed = parse_yaml("a: 1.5e-3\nb: 1_000\nc: 0x1F\nd: 0o17\ne: '1e7'")
    assert parsed.data == {"a": 0.0015, "b": 1000, "c": 31, "d": 15, "e": "1e7"}


def test_sexagesimal_is_not_a_number(tmp_path):
    file = tmp_path / "instance.yaml"
    file.write_text(instance_text(horizon_months="1:00"))  # before: 60 (1*60 + 0), accepted
    assert [m for m in problems_of(file) if m.startswith("horizon_months:")]


def test_code_execution_tags_stay_refused(tmp_path):
    file = tmp_path / "instance.yaml"
    witness = tmp_path / "ran"
    file.write_text(instance_text(name=f"!!python/object/apply:os.system ['touch {witness}']"))
    (message,) = problems_of(file)
    assert "could not determine a constructor" in message
    assert not witness.exists()


def test_duplicate_key_in_yaml_names_its_path(tmp_path):
    file = tmp_path / "instance.yaml"
    text = instance_text()
    text = text.replace("    lead_time_months: 4\n", "    lead_time_months: 4\n    lead_time_months: 9\n")
    text += "horizon_months: 24\n"
    file.write_text(text)
    # Before: silently 9 and 24. The phase is named by its id, as every other path is.
    assert problems_of(file) == [
        "sites[alpha].ai_phases[hall1].lead_time_months: appears more than once in the same mapping "
        "(hint: keep one; the parser would silently use the last)",
        "horizon_months: appears more than once in the same mapping "
        "(hint: keep one; the parser would silently use the last)",
    ]


def test_duplicate_key_in_json_names_its_path(tmp_path):
    file = tmp_path / "instance.json"
    text = json.dumps(valid_data())
    once = '"minimum_cash_usd": 1000000.0'
    text = text.replace(once, f'{once}, "minimum_cash_usd": 0')
    file.write_text(text)
    (message,) = problems_of(file)  # before: silently 0
    assert message.startswith("finance.minimum_cash_usd: appears more than once")


def test_utf8_bom_in_instance_and_csv(tmp_path):
    folder = tmp_path / "in"
    write_prices_csv(folder / "prices.csv", horizon_months(), price)
    csv_file = folder / "prices.csv"
    csv_file.write_bytes(b"\xef\xbb\xbf" + csv_file.read_bytes())  # Excel's "CSV UTF-8"
    data = valid_data()
    data["sites"][0]["power_price_usd_per_mwh"] = {"csv": "prices.csv", "column": "usd"}
    file = folder / "instance.json"
    file.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    # Before: JSON "Unexpected UTF-8 BOM"; the CSV's first column read as '\ufeffmonth'.
    instance = load_instance(file)
    assert instance.sites[0].power_price_usd_per_mwh.values("2027-01", 12) == [31.0 + t for t in range(12)]


def test_duplicate_csv_month_names_file_and_line(tmp_path):
    folder = tmp_path / "in"
    months = horizon_months()
    write_prices_csv(folder / "prices.csv", [*months[:3], months[1], *months[3:]], price)
    # Rows: header line 1, 2027-01 line 2, 2027-02 line 3, 2027-03 line 4, 2027-02 again line 5.
    (message,) = problems_of(csv_instance(folder))  # before: the second row silently won
    assert message == (f"{PRICE_FIELD}: prices.csv:5: month 2027-02 appears again (first on line 3); "
                       "keep one row per month")


def test_full_width_digits_are_not_a_month(tmp_path):
    file = tmp_path / "instance.yaml"
    file.write_text(instance_text(start="'\uff12\uff10\uff12\uff17-01'"), encoding="utf-8")
    assert [m for m in problems_of(file) if m.startswith("start:")]  # before: read as 2027-01
    folder = tmp_path / "in"
    months = ["\uff12\uff10\uff12\uff17-01", *horizon_months()[1:]]
    write_prices_csv(folder / "prices.csv", months, lambda m: 40.0)
    (message,) = problems_of(csv_instance(folder))
    assert "prices.csv:2: month" in message and "is not YYYY-MM" in message


# ------------------------------------------------------------ 3. bounds


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_exit_2(tmp_path, suffix):
    file = tmp_path / f"instance{suffix}"
    file.write_text('{"description": ' + "[" * 1000 + "]" * 1000 + "}")
    result = run_cli("validate", file, cwd=tmp_path)  # before: RecursionError, exit 1
    assert result.returncode == 2
    assert f"more than {MAX_DEPTH} levels deep" in flat(result.stderr)
    no_traceback(result)


def test_nesting_through_aliases_is_bounded():
    # Each anchor nests 20 levels around the previous one: 4 anchors make 80 levels of data
    # from text that never nests deeper than 20.
    lines = ["a0: &a0 " + "[" * 20 + "1" + "]" * 20]
    lines += [f"a{i}: &a{i} " + "[" * 20 + f"*a{i - 1}" + "]" * 20 for i in range(1, 4)]
    with pytest.raises(ReadError, match="through aliases"):
        parse_yaml("\n".join(lines))
    assert parse_yaml("\n".join(lines[:3])).data["a2"] is not None  # 60 levels: fine


def test_instance_file_size_is_bounded(tmp_path):
    file = tmp_path / "instance.yaml"
    file.write_text(instance_text() + "#" * MAX_INSTANCE_BYTES + "\n")
    (message,) = problems_of(file)  # before: parsed the whole comment, and accepted
    assert f"more than the limit of {MAX_INSTANCE_BYTES:,} bytes" in message


def test_csv_file_size_is_bounded(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    note = "x" * 100_000  # under the 131,072-character cell limit; 200 rows make ~20 MB
    with (folder / "prices.csv").open("w") as handle:
        handle.write("month,usd,note\n")
        for t in range(200):
            month = f"{2027 + t // 12}-{t % 12 + 1:02d}"
            handle.write(f"{month},{price(month)},{note}\n")
    assert (folder / "prices.csv").stat().st_size > MAX_CSV_BYTES
    (message,) = problems_of(csv_instance(folder))  # before: read whole, and accepted
    assert message.startswith(f"{PRICE_FIELD}.csv: CSV file 'prices.csv' is ")
    assert f"more than the limit of {MAX_CSV_BYTES:,} bytes" in message


def test_csv_cell_over_the_field_limit_exit_2(tmp_path):
    folder = tmp_path / "in"
    write_prices_csv(folder / "prices.csv", horizon_months(), price)
    with (folder / "prices.csv").open("a") as handle:
        handle.write("2030-01," + "9" * 200_000 + "\n")  # line 14
    result = run_cli("validate", csv_instance(folder), cwd=tmp_path)  # before: _csv.Error, exit 1
    assert result.returncode == 2
    assert f"{PRICE_FIELD}: prices.csv:14: cannot be read as CSV: field larger than field limit" \
        in flat(result.stderr)
    no_traceback(result)


def test_csv_name_too_long_exit_2(tmp_path):
    folder = tmp_path / "in"
    result = run_cli("validate", csv_instance(folder, "p" * 300 + ".csv"), cwd=tmp_path)
    assert result.returncode == 2  # before: OSError "File name too long", exit 1
    message = flat(result.stderr)
    assert f"{PRICE_FIELD}.csv: CSV file 'ppp" in message and "File name too long" in message
    assert "p" * 100 not in message  # the name is cut, not echoed whole
    no_traceback(result)


# ------------------------------------------------------------ 4. user text on the terminal


def test_problem_text_has_no_control_characters():
    problem = Problem("fleet[s19].sites_at_start.\x1b[2Jx", "unknown site\x07", "use \u202eone")
    assert str(problem) == ("fleet[s19].sites_at_start.\\x1b[2Jx: unknown site\\x07 "
                            "(hint: use \\u202eone)")
    assert printable(os.fsdecode(b"plan\xff.yaml")) == "plan\\xff.yaml"  # a non-UTF-8 file name


def test_escape_sequences_in_ids_are_not_printed(tmp_path):
    fleet_key = valid_data()  # a cross-field rule: checked once the fields are valid
    fleet_key["fleet"][0]["sites_at_start"] = {"\x1b]0;owned\x07\x1b[31mbeta": 5.0}
    scenario = valid_data()  # a field rule inside a scenario named with an escape
    scenario["market"] = {"scenarios": [{"name": "\x1b[2Jbase", "btc_price_usd": 90_000.0,
                                         "network_hashrate_ehs": "x"}]}
    results = run_cli_many([["validate", write_instance(tmp_path / name, data)]
                            for name, data in [("a", fleet_key), ("b", scenario)]], cwd=tmp_path)
    expected = ["fleet[s19].sites_at_start.\\x1b]0;owned\\x07\\x1b[31mbeta: unknown site",
                "market.scenarios[\\x1b[2Jbase].network_hashrate_ehs:"]
    for result, fragment in zip(results, expected, strict=True):
        assert result.returncode == 2
        # Before: the escape sequences reached the terminal raw (title set, screen cleared).
        assert "\x1b" not in result.stderr and "\x07" not in result.stderr
        assert fragment in flat(result.stderr)


def test_file_names_are_not_markup_or_emoji(tmp_path):
    good = write_instance(tmp_path, valid_data(), name=":rocket:[bold]plan\x1b[5m.yaml")
    result = run_cli("validate", good, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Before: "🚀plan" in bold (or blinking), the brackets eaten as markup.
    assert result.stdout.startswith("valid ")
    assert ":rocket:[bold]plan\\x1b[5m.yaml" in unwrapped(result.stdout)
    assert "\U0001f680" not in result.stdout and "\x1b" not in result.stdout
    data = valid_data()
    data["horizon_months"] = 0
    bad = write_instance(tmp_path, data, name=":rocket:[red]bad.yaml")
    result = run_cli("validate", bad, cwd=tmp_path)
    assert result.returncode == 2
    assert ":rocket:[red]bad.yaml" in unwrapped(result.stderr) and "\U0001f680" not in result.stderr


# ------------------------------------------------------------ 5. shorthand market paths


def test_shorthand_market_errors_name_the_field_written(tmp_path):
    folder = tmp_path / "in"
    write_prices_csv(folder / "btc.csv", horizon_months()[:-1], lambda m: 90_000.0)  # lacks 2027-12
    data = valid_data()
    data["market"]["btc_price_usd"] = {"csv": "btc.csv", "column": "usd"}
    data["market"]["network_hashrate_ehs"] = "a lot"
    file = write_instance(folder, data)
    messages = problems_of(file)
    # Before: market.scenarios[0].network_hashrate_ehs, which the file never says.
    assert [m.split(":")[0] for m in messages] == ["market.network_hashrate_ehs"]
    data["market"]["network_hashrate_ehs"] = 700.0
    file = write_instance(folder, data)
    # Before: market.scenarios[base].btc_price_usd.
    assert problems_of(file) == ["market.btc_price_usd: CSV 'btc.csv' has no row for 2027-12 "
                                 "(hint: the file must cover every month of the horizon)"]


def test_sweep_spec_is_read_by_the_same_rules(tmp_path, instances_dir):
    spec = (instances_dir / "sweeps" / "two_sites_grid.yaml").read_text()
    spec = spec.replace("base: ../two_sites.yaml", f"base: {instances_dir / 'two_sites.yaml'}")
    file = tmp_path / "spec.yaml"
    file.write_text(spec.replace("design: grid\n", "design: grid\ndesign: oat\n"))
    with pytest.raises(SweepSpecError) as caught:  # before: silently an oat design
        load_sweep_spec(file)
    assert [str(p).split(":")[0] for p in caught.value.problems] == ["design"]


def test_sweep_copies_no_csv_linked_outside_after_loading(tmp_path):
    """A sweep reads the base's CSVs again when it derives a series; a CSV replaced by a link
    out of the folder after the base was checked is refused (exit 2), not read or copied."""
    folder = tmp_path / "in"
    write_prices_csv(folder / "prices.csv", horizon_months(), price)
    csv_instance(folder)
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": "instance.yaml", "design": "grid", "parameters": [
        {"name": "p", "path": "sites[alpha].power_price_usd_per_mwh", "factors": [0.5]}]}))
    secret = outside_secret(tmp_path)
    with expand_file(spec) as expansion:
        (folder / "prices.csv").unlink()
        (folder / "prices.csv").symlink_to(secret)
        with pytest.raises(SweepSpecError) as caught:  # before: copied the outside file
            expansion.point_data(expansion.points[0])
        assert "outside the instance file's folder" in str(caught.value.problems[0])
        copies = [f for f in expansion.base_dir.rglob("*") if f.is_file() and not f.is_symlink()]
        assert not any(SECRET in f.read_text() for f in copies)
