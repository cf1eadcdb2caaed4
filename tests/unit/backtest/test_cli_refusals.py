"""`hedger backtest` on bad input: exit 1, one line saying what is wrong, one hint saying what to do about it
(its own, not the generic data hint), and no traceback. Numeric flags are refused before any file is read."""

from __future__ import annotations

import pytest

from hedger.app.cli import EXIT_ERROR, main
from hedger.errors import DataError
from tests.unit.backtest.synthetic import random_walk, write_binance_csv

GENERIC_HINT = DataError.hint


@pytest.fixture
def btc_file(tmp_path):
    spot = random_walk(48, seed=5)
    return write_binance_csv(tmp_path / "binance_btcusdt_1h.csv", spot, spot)


def refused(capsys, *arguments: str) -> tuple[str, str]:
    """The message and the hint of a refused `hedger backtest`, checked to be one line each."""
    assert main(["backtest", *arguments]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    message, hint = captured.err.splitlines()
    assert message.startswith("error: ") and hint.startswith("  → ")
    assert GENERIC_HINT not in hint
    return message, hint


def with_cell(path, line: int, column: int, text: str):
    """`path` with one cell replaced (line 1 is the header)."""
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = text
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("flag", "value", "problem", "allowed"),
    [
        ("--leverage", "0", "--leverage: 0: outside (0, ∞)", "(0, ∞)"),  # was a ZeroDivisionError
        ("--leverage", "-2", "--leverage: -2: outside (0, ∞)", "(0, ∞)"),  # was 37,739 liquidations, exit 0
        ("--leverage", "nan", "--leverage: nan: not a finite number", "(0, ∞)"),
        ("--spot-usd", "0", "--spot-usd: 0: outside (0, ∞)", "(0, ∞)"),  # was a ZeroDivisionError
        ("--spot-usd", "inf", "--spot-usd: inf: not a finite number", "(0, ∞)"),
        ("--fee-bps", "-5", "--fee-bps: -5: outside [0, ∞)", "[0, ∞)"),
        ("--slippage-bps", "-1", "--slippage-bps: -1: outside [0, ∞)", "[0, ∞)"),
        ("--gas-usd", "-1", "--gas-usd: -1: outside [0, ∞)", "[0, ∞)"),
        ("--maintenance-margin", "1", "--maintenance-margin: 1: outside [0, 1)", "[0, 1)"),
        ("--maintenance-margin", "-0.1", "--maintenance-margin: -0.1: outside [0, 1)", "[0, 1)"),
        ("--top-up-below", "1.5", "--top-up-below: 1.5: outside [0, 1]", "[0, 1]"),
        ("--window", "2", "--window: 2: outside [3, ∞)", "[3, ∞)"),
        ("--workers", "0", "--workers: 0: outside [1, ∞)", "[1, ∞)"),
        ("--funding-apr", "inf", "--funding-apr: inf: not a finite number", "(-∞, ∞)"),
    ],
)
def test_a_numeric_flag_out_of_its_range_is_refused_naming_the_flag_before_any_file_is_read(
    tmp_path, capsys, flag, value, problem, allowed
):
    out = tmp_path / "out"
    message, hint = refused(capsys, "--data", str(tmp_path / "nope.csv"), "--out", str(out), flag, value)
    assert message == f"error: {problem}"
    assert hint.startswith(f"  → {flag} is ") and hint.endswith(f"give a value in {allowed}")
    assert not out.exists()


def test_a_maintenance_margin_at_the_initial_margin_is_refused(btc_file, tmp_path, capsys):
    arguments = ["--data", str(btc_file), "--out", str(tmp_path / "o"), "--leverage", "10"]
    message, hint = refused(capsys, *arguments, "--maintenance-margin", "0.1")
    assert "--maintenance-margin: 0.1: not below the initial margin 1 / --leverage = 0.1" in message
    assert "lower --maintenance-margin or --leverage" in hint


def test_an_output_directory_that_cannot_be_created_is_refused(btc_file, tmp_path, capsys):
    message, hint = refused(capsys, "--data", str(btc_file), "--out", str(btc_file / "x"))  # under a file
    assert message == f"error: --out: {btc_file / 'x'}: Not a directory"  # was NotADirectoryError
    assert "directory you can create and write to" in hint


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "# hedger\nA toolkit for hedging\non-chain exposure, with perps, in prose.\n",
            "not a readable CSV file (Error tokenizing data",
        ),
        ("", "not a readable CSV file (No columns to parse from file)"),
    ],
)
def test_a_file_that_is_not_a_csv_is_refused_naming_the_expected_columns(tmp_path, capsys, content, problem):
    readme = tmp_path / "README.md"
    readme.write_text(content)
    message, hint = refused(capsys, "--data", str(readme), "--policy", "one_to_one", "--out", str(tmp_path / "o"))
    assert message.startswith(f"error: {readme}: {problem}")  # was pandas.errors.ParserError
    assert "timestamp_utc, perp_close, spot_close, mark_close, funding_rate" in hint


def test_a_directory_or_a_binary_file_given_as_data_is_refused(tmp_path, capsys):
    binary = tmp_path / "prices.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    for path, reason in ((tmp_path, "Is a directory"), (binary, "'utf-8' codec can't decode")):
        message, hint = refused(capsys, "--data", str(path), "--out", str(tmp_path / "o"))
        assert message.startswith(f"error: {path}: not a readable CSV file ({reason}")
        assert "--data takes Binance hourly CSVs" in hint


def test_a_missing_file_gets_a_path_hint(tmp_path, capsys):
    message, hint = refused(capsys, "--data", "nope.csv", "--out", str(tmp_path / "o"))
    assert message == "error: nope.csv: no such file"
    assert hint.startswith("  → check the path (read as /") and hint.endswith("nope.csv)")


def test_a_price_that_is_not_a_number_is_refused_naming_its_line(btc_file, tmp_path, capsys):
    with_cell(btc_file, 5, 1, "abc")
    message, hint = refused(capsys, "--data", str(btc_file), "--out", str(tmp_path / "o"))
    assert message == f"error: {btc_file}: line 5: perp_close 'abc' is not a number"  # was a ValueError
    assert "leave it empty: an empty price is a gap" in hint


def test_a_time_that_is_not_a_time_is_refused_naming_its_line(btc_file, tmp_path, capsys):
    with_cell(btc_file, 3, 0, "yesterday")
    message, hint = refused(capsys, "--data", str(btc_file), "--out", str(tmp_path / "o"))
    assert message == f"error: {btc_file}: line 3: timestamp_utc 'yesterday' is not a time"
    assert "UTC time, e.g. 2021-03-01 10:00:00+00:00" in hint


def test_a_missing_column_names_the_layout(btc_file, tmp_path, capsys):
    btc_file.write_text(btc_file.read_text().replace("mark_close", "mark"))
    message, hint = refused(capsys, "--data", str(btc_file), "--out", str(tmp_path / "o"))
    assert message == f"error: {btc_file}: missing columns ['mark_close']"
    assert "header names timestamp_utc, perp_close, spot_close, mark_close, funding_rate" in hint


def test_a_bad_ewma_lambda_is_refused_with_a_policy_hint(btc_file, tmp_path, capsys):
    message, hint = refused(capsys, "--data", str(btc_file), "--policy", "ewma_2", "--out", str(tmp_path / "o"))
    assert message == "error: EWMA λ must be strictly between 0 and 1, got 2.0"
    assert "policy ewma_0.995" in hint


def test_dydx_funding_without_its_file_names_the_file_to_add(btc_file, tmp_path, capsys):
    message, hint = refused(capsys, "--data", str(btc_file), "--funding", "dydx", "--out", str(tmp_path / "o"))
    assert message == "error: --funding dydx needs the dYdX funding file of BTC in --data"
    assert "add dydx_btcusd_funding_1h_*.csv to --data, or use --funding binance" in hint


def test_a_max_gap_that_is_not_a_time_span_is_refused(tmp_path, capsys):
    arguments = ["--cross", "arch:sp500", "--hedge-with", "arch:nasdaq", "--out", str(tmp_path / "o")]
    message, hint = refused(capsys, *arguments, "--max-gap", "a week")
    assert message == "error: --max-gap: a week: not a positive time span"
    assert "5D" in hint


def test_the_help_examples_keep_their_lines_and_quote_the_path_they_substitute(capsys):
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    text = capsys.readouterr().out
    cross = '--cross "GOOG=$(.venv/bin/python scripts/wheel_data.py backtesting test/GOOG.csv)" \\\n'
    assert cross in text and "--hedge-with arch:nasdaq --out reports/goog-nasdaq" in text
    assert "$(python " not in text


def test_an_empty_policy_list_is_refused(btc_file, tmp_path, capsys):
    message, hint = refused(capsys, "--data", str(btc_file), "--policy", ",", "--out", str(tmp_path / "o"))
    assert message == "error: --policy: (empty): names no policy"  # was an IndexError
    assert "--policy one_to_one,ewma" in hint


def test_an_asset_without_a_price_file_names_the_file_to_add(btc_file, tmp_path, capsys):
    message, hint = refused(capsys, "--data", str(btc_file), "--spot", "ETH", "--out", str(tmp_path / "o"))
    assert message == "error: no price file for ETH in --data (have ['BTC'])"
    assert "add binance_ethusdt_1h_*.csv to --data" in hint


def test_files_that_do_not_overlap_are_refused_with_their_spans(btc_file, tmp_path, capsys):
    dydx = tmp_path / "dydx_btcusd_funding.csv"
    dydx.write_text("Symbol,Date,Funding Rate\nBTC-USD,2022-01-01 00:00:00+00:00,0.00001\n"
                    "BTC-USD,2022-01-01 01:00:00+00:00,0.00001\n")  # fmt: skip
    arguments = ["--data", f"{btc_file},{dydx}", "--funding", "dydx", "--out", str(tmp_path / "o")]
    message, hint = refused(capsys, *arguments)
    assert message == "error: BTC spot, BTC perp and dydx:BTC-USD funding do not overlap"
    assert "BTC spot 2021-01-01 01:00 → 2021-01-03 00:00" in hint
    assert "dydx:BTC-USD funding 2022-01-01 00:00 → 2022-01-01 01:00" in hint


def test_a_file_with_a_header_and_no_rows_is_refused(tmp_path, capsys):
    path = tmp_path / "binance_btcusdt_1h.csv"
    path.write_text("timestamp_utc,perp_close,spot_close,mark_close,funding_rate\n")
    message, _ = refused(capsys, "--data", f"BTC={path}", "--policy", "one_to_one", "--out", str(tmp_path / "o"))
    assert "a header and no rows" in message
