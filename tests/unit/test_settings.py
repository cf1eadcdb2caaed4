"""Network files: validated, with errors that name the file and the key."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest
import tomli_w

from hedger.errors import ConfigError
from hedger.settings import load_network, parse_network

ETH_FEED = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
DOC = {
    "network": {"name": "testnet", "chain_id": 42161, "multicall": "0xcA11bde05977b3631167028862bE2a173976CA11"},
    "feeds": {
        "ETH/USD": {
            "address": ETH_FEED, "asset": "ETH", "decimals": 8, "heartbeat_s": 86400,
            "min_price": "10", "max_price": "1000000",
        }
    },
    "tokens": {"USDC": {"address": USDC, "decimals": 6, "asset": "USDC", "feed": "ETH/USD", "stablecoin": True}},
    "venues": {"ref": {"kind": "reference", "address": USDC, "markets": {"ETH": {"asset": "ETH", "id": 1}}}},
}  # fmt: skip


def doc_with(path: str, value) -> dict:
    doc = copy.deepcopy(DOC)
    *parents, last = path.split(".")
    table = doc
    for key in parents:
        table = table[key]
    if value is None:
        del table[last]
    else:
        table[last] = value
    return doc


def test_a_valid_file_loads_with_exact_values(tmp_path):
    path = tmp_path / "testnet.toml"
    path.write_text(tomli_w.dumps(DOC))
    network = load_network(str(path))
    feed = network.feeds["ETH/USD"]
    assert (network.chain_id, feed.heartbeat_s, feed.min_price) == (42161, 86400, Decimal(10))
    assert network.rpc_env == "HEDGER_RPC_TESTNET"
    assert network.venues["ref"].markets["ETH"].require("id", int) == 1
    assert network.is_known_address(ETH_FEED.lower()) and not network.is_known_address("0x" + "12" * 20)


@pytest.mark.parametrize(
    ("path", "value", "key", "problem"),
    [
        ("network.chain_id", None, "network.chain_id", "missing"),
        ("network.chain_id", "42161", "network.chain_id", "must be int"),
        ("feeds.ETH/USD.heartbeat_s", None, "feeds.ETH/USD.heartbeat_s", "missing"),
        ("feeds.ETH/USD.min_price", "ten", "feeds.ETH/USD.min_price", "not a decimal"),
        ("feeds.ETH/USD.max_price", "5", "feeds.ETH/USD.min_price", "below max_price"),
        ("tokens.USDC.feed", "BTC/USD", "tokens.USDC.feed", "unknown feed"),
        ("tokens.USDC.address", USDC.lower(), "tokens.USDC.address", "not checksummed"),
    ],
)
def test_bad_values_name_the_file_and_key(path, value, key, problem):
    doc = doc_with(path, value)
    with pytest.raises(ConfigError) as error:
        parse_network(doc, "networks/testnet.toml")
    assert error.value.file == "networks/testnet.toml" and error.value.key == key
    assert problem in error.value.problem


def test_a_bad_checksum_suggests_the_right_spelling():
    with pytest.raises(ConfigError) as error:
        parse_network(doc_with("tokens.USDC.address", USDC.lower()), "f.toml")
    assert USDC in str(error.value)


def test_an_rpc_url_with_a_key_is_refused_and_env_wins(monkeypatch):
    with pytest.raises(ConfigError, match="API key"):
        parse_network(doc_with("network.rpc_url", "https://arb.example/v2/abcdefghijklmnopqrstuv"), "f.toml")
    network = parse_network(doc_with("network.rpc_url", "http://127.0.0.1:8545"), "f.toml")
    assert network.rpc_url() == "http://127.0.0.1:8545"
    monkeypatch.setenv("HEDGER_RPC_TESTNET", "http://127.0.0.1:9999")
    assert network.rpc_url() == "http://127.0.0.1:9999"
    monkeypatch.delenv("HEDGER_RPC_TESTNET")
    with pytest.raises(ConfigError, match="HEDGER_RPC_TESTNET"):
        parse_network(DOC, "f.toml").rpc_url()


def test_an_unknown_network_lists_the_known_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    (tmp_path / "alpha.toml").write_text(tomli_w.dumps(DOC))
    with pytest.raises(ConfigError) as error:
        load_network("beta")
    assert "alpha" in str(error.value)


def test_malformed_toml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[network\nname = 1")
    with pytest.raises(ConfigError, match="syntax"):
        load_network(str(path))


FLEET_ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _fleet(tmp_path, doc):
    from hedger.settings import load_fleet

    path = tmp_path / "fleet.toml"
    path.write_text(tomli_w.dumps(doc))
    return load_fleet(path)


def test_a_fleet_file_lists_accounts_with_their_own_keeper_settings(tmp_path):
    fleet = _fleet(tmp_path, {
        "holder": "host-a", "lease_ttl_blocks": 4, "poll_interval_s": 0.5,
        "accounts": [
            {"network": "arbitrum-one", "address": FLEET_ACCOUNT.lower(), "key_env": "HEDGER_KEY_A",
             "gas_budget_per_day": "0.05"},
            {"network": "local", "address": FLEET_ACCOUNT},
        ],
    })  # fmt: skip
    assert (fleet.holder, fleet.journal, dict(fleet.keeper)) == ("host-a", None, {"lease_ttl_blocks": 4,
                                                                                  "poll_interval_s": 0.5})  # fmt: skip
    first, second = fleet.accounts
    assert (first.network, first.address, first.key_env) == ("arbitrum-one", FLEET_ACCOUNT, "HEDGER_KEY_A")
    assert first.keeper == {"gas_budget_per_day": Decimal("0.05")}
    assert (second.key_env, second.keeper) == ("HEDGER_PRIVATE_KEY", {})


@pytest.mark.parametrize(
    ("doc", "key", "problem"),
    [
        ({}, "accounts", "at least one"),
        ({"accounts": [{"network": "local"}]}, "accounts[0].address", "missing"),
        ({"accounts": [{"network": "local", "address": "0x12"}]}, "accounts[0].address", "not an address"),
        ({"accounts": [{"network": "local", "address": FLEET_ACCOUNT, "key_env": "0xac09…"}]},
         "accounts[0].key_env", "not an environment variable name"),
        ({"accounts": [{"network": "local", "address": FLEET_ACCOUNT}] * 2}, "accounts[1]", "listed twice"),
        ({"lease_ttl_blocks": 0, "accounts": [{"network": "local", "address": FLEET_ACCOUNT}]}, "lease_ttl_blocks",
         "positive integer"),
        ({"holdr": "x", "accounts": [{"network": "local", "address": FLEET_ACCOUNT}]}, "holdr", "unknown key"),
    ],
)  # fmt: skip
def test_a_bad_fleet_file_names_the_key(tmp_path, doc, key, problem):
    with pytest.raises(ConfigError) as refused:
        _fleet(tmp_path, doc)
    assert refused.value.key == key and problem in refused.value.problem


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("venues.ref.markets.ETH.id", -1, "venues.ref.markets.ETH.id: -1 is negative"),
        ("feeds.ETH/USD.address", "hello", "feeds.ETH/USD.address: 'hello' is not an address"),
        ("feeds.ETH/USD.address", "0x" + "ab" * 19 + "c", "is not an address"),  # 39 hex digits
        ("venues.ref.address", "0x" + "12" * 19, "is not an address"),  # 38 hex digits, under any key
    ],
)
def test_a_value_that_cannot_go_on_chain_is_refused_with_its_key(path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_network(doc_with(path, value), "net.toml")


def test_a_network_file_that_is_not_utf8_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    (tmp_path / "bad.toml").write_bytes(b'[network]\nname = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_network("bad")
