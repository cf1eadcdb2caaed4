"""Bad input is a clear ConfigError before anything is read or sent: hedge ratios, every typed key of a
network file (unknown keys with a did-you-mean), RPC URLs that are not HTTP(S), shown redacted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedger.app.session import InputLimits, known_assets, parse_ratios, validate_ratios
from hedger.errors import ConfigError
from hedger.settings import parse_network
from tests.unit.test_settings import DOC, doc_with

NETWORK = parse_network(DOC, "<testnet>")


def ratios(*values: str, limits: InputLimits | None = None) -> dict[str, Decimal]:
    return validate_ratios(parse_ratios(list(values)), known_assets(NETWORK), limits or InputLimits())


def test_good_ratios_pass_and_case_is_matched_to_the_known_name():
    assert ratios("ETH=0.5", "usdc=1") == {"ETH": Decimal("0.5"), "USDC": Decimal(1)}
    assert ratios("ETH=2", "USDC=0") == {"ETH": Decimal(2), "USDC": Decimal(0)}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ETH=-1", r"outside \[0, 2\]"),  # a sign never implies a long
        ("ETH=1e9", r"outside \[0, 2\]"),
        ("ETH=2.0001", r"outside \[0, 2\]"),
        ("ETH=Infinity", "not a finite number"),
        ("ETH=NaN", "not a finite number"),
        ("ETH=abc", "expected ASSET=DECIMAL"),
        ("ETH", "expected ASSET=DECIMAL"),
        ("=1", "expected ASSET=DECIMAL"),
    ],
)
def test_bad_ratios_are_refused(value, problem):
    with pytest.raises(ConfigError, match=problem):
        ratios(value)


def test_an_unknown_asset_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError) as error:
        ratios("DOGE=1")
    assert "unknown asset" in str(error.value) and "known assets: ETH, USDC" in str(error.value)
    with pytest.raises(ConfigError, match="did you mean ETH"):
        ratios("ETHH=1")


def test_the_ratio_range_is_configurable_and_never_negative():
    assert ratios("ETH=3", limits=InputLimits(ratio_max=Decimal(3))) == {"ETH": Decimal(3)}
    wide = parse_network(doc_with("execution", {"ratio_max": "5"}), "<f>")
    assert InputLimits.of(wide).ratio_max == Decimal(5)
    with pytest.raises(ConfigError, match=r"execution\.ratio_min"):
        InputLimits.of(parse_network(doc_with("execution", {"ratio_min": -1}), "<f>"))
    with pytest.raises(ConfigError, match="given twice"):
        ratios("ETH=1", "eth=0.5")


@pytest.mark.parametrize(
    ("path", "value", "key", "problem"),
    [
        ("feeds.ETH/USD.heartbeat_s", 0, "feeds.ETH/USD.heartbeat_s", "must be a positive number"),
        ("feeds.ETH/USD.heartbeat_s", -5, "feeds.ETH/USD.heartbeat_s", "must be a positive number"),
        ("feeds.ETH/USD.heartbeat", 60, "feeds.ETH/USD.heartbeat", "did you mean 'heartbeat_s'"),
        ("tokens.USDC.decimals", 99, "tokens.USDC.decimals", "between 0 and 36"),
        ("tokens.USDC.stablecoin", "yes", "tokens.USDC.stablecoin", "must be bool"),
        ("execution", {"reduce_when_halted": "no"}, "execution.reduce_when_halted", "true or false"),
        ("execution", {"max_fee_per_gas_gwei": -1}, "execution.max_fee_per_gas_gwei", "must be positive"),
        ("execution", {"max_priority_fee_gwei": "-0.5"}, "execution.max_priority_fee_gwei", "must not be negative"),
        ("execution", {"max_fee_per_gas": 5}, "execution.max_fee_per_gas", "did you mean 'max_fee_per_gas_gwei'"),
        ("execution", {"receipt_timeout_s": "NaN"}, "execution.receipt_timeout_s", "not a finite number"),
        ("execution", {"max_replacements": True}, "execution.max_replacements", "non-negative integer"),
        ("keeper", {"gas_budget_per_day": "-1"}, "keeper.gas_budget_per_day", "must not be negative"),
        ("keeper", {"dry_run": 1}, "keeper.dry_run", "true or false"),
        ("keeper", {"poll_interval": 1}, "keeper.poll_interval", "did you mean 'poll_interval_s'"),
        ("keeper", {"new_heads": "websocket"}, "keeper.new_heads", "must be one of 'auto', 'ws', 'poll'"),
        ("network.rpc_timeout_s", 0, "network.rpc_timeout_s", "must be positive"),
        ("network.confirmations", -1, "network.confirmations", "non-negative integer"),
        ("network.max_request_bytes", "2MB", "network.max_request_bytes", "positive integer"),
        ("network.eth_call_gas_cap", 0, "network.eth_call_gas_cap", "positive integer"),
        ("network.chain_id", 0, "network.chain_id", "positive integer"),
        ("network.chainid", 1, "network.chainid", "did you mean 'chain_id'"),
        ("exectuion", {}, "exectuion", "did you mean 'execution'"),
        ("sequencer", {"feed": DOC["feeds"]["ETH/USD"]["address"], "grace_period_s": -1}, "sequencer.grace_period_s",
         "must not be negative"),
        ("accounts", {"demo": "nobody"}, "accounts.demo", "is not an address"),
    ],
)  # fmt: skip
def test_every_network_file_field_is_typed(path, value, key, problem):
    with pytest.raises(ConfigError) as error:
        parse_network(doc_with(path, value), "<testnet>")
    assert error.value.key == key and problem in str(error.value)


def test_typed_values_are_converted():
    network = parse_network(
        doc_with("execution", {"max_fee_per_gas_gwei": 50, "reduce_when_halted": True, "receipt_timeout_s": "12.5"}),
        "<f>",
    )
    assert network.execution["max_fee_per_gas_gwei"] == Decimal(50)
    assert network.execution["reduce_when_halted"] is True
    assert network.execution["receipt_timeout_s"] == pytest.approx(12.5, abs=1e-12)  # a float, from "12.5"
    assert network.rpc_timeout_s == pytest.approx(30.0, abs=1e-12) and network.confirmations == 3
    assert (network.max_request_bytes, network.eth_call_gas_cap) == (1_000_000, 25_000_000)


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8545", "ftp://host/x", "127.0.0.1:8545", "http://", "file:///etc/passwd"]
)
def test_non_http_rpc_urls_are_refused(url, monkeypatch):
    monkeypatch.delenv(NETWORK.rpc_env, raising=False)
    with pytest.raises(ConfigError, match="is not an http"):
        NETWORK.rpc_url(url)


def test_a_bad_rpc_url_is_shown_redacted(monkeypatch):
    key = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    monkeypatch.setenv(NETWORK.rpc_env, f"wss://user:pw@eth.example.com/v2/{key}?apikey={key}")
    with pytest.raises(ConfigError) as error:
        NETWORK.rpc_url()
    assert key not in str(error.value) and "pw" not in str(error.value)
    assert "eth.example.com" in str(error.value)


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "2", "enabled", "stop"])
def test_the_kill_switch_fails_closed_on_any_value_but_an_off_one(value, monkeypatch, tmp_path):
    from hedger.app.session import KILL_SWITCH_ENV, Gates

    monkeypatch.setenv(KILL_SWITCH_ENV, value)
    assert f"{KILL_SWITCH_ENV}={value}" in Gates(tmp_path / "STOP").kill_switch()


@pytest.mark.parametrize("value", ["", "0", "false", "No", " off "])
def test_the_kill_switch_is_off_only_when_said_so(value, monkeypatch, tmp_path):
    from hedger.app.session import KILL_SWITCH_ENV, Gates

    monkeypatch.setenv(KILL_SWITCH_ENV, value)
    assert Gates(tmp_path / "STOP").kill_switch() is None


@pytest.mark.parametrize(
    ("strategy", "key"),
    [
        ({"sizing": {"default_ratio": 5}}, "strategy.sizing.default_ratio"),
        ({"ratio": {"ETH": {"method": "fixed", "ratio": 3}}}, "strategy.ratio.ETH.ratio"),
        ({"ratio": {"ETH": {"method": "ewma", "fallback": "2.5"}}}, "strategy.ratio.ETH.fallback"),
    ],
)
def test_ratios_set_in_the_network_file_are_held_to_the_same_bounds_as_the_flag(strategy, key):
    from hedger.strategy.parameters import StrategySettings

    settings = StrategySettings.from_mapping(strategy, "net.toml")
    with pytest.raises(ConfigError, match=f"{key}: .* is outside \\[0, 2\\]"):
        InputLimits().check_configured(settings, "net.toml")
    InputLimits(ratio_max=Decimal(6)).check_configured(settings, "net.toml")  # widened on purpose: accepted
