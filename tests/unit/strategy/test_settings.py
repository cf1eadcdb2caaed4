"""Strategy settings: built from a TOML [strategy] table, every error names the file and the key, every
threshold documented in docs/strategy.md."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal as D
from pathlib import Path

import pytest

from hedger.errors import ConfigError
from hedger.model import Verdict
from hedger.strategy.parameters import GuardSettings, SizingSettings, StrategySettings
from hedger.strategy.policy import RebalancePolicy

TOML = """
[strategy.guards]
max_round_jump_rel = 0.5
sequencer_verdict = "halt"
[strategy.sizing]
hedge_with = { STETH = "ETH" }
carry_budget_rel = 0.01
[strategy.policy]
band_rel = 0.1
cooldown_s = 600
"""


def test_from_a_toml_table_numbers_are_exact_decimals():
    settings = StrategySettings.from_mapping(tomllib.loads(TOML)["strategy"], "networks/test.toml")
    assert settings.guards.max_round_jump_rel == D("0.5")
    assert settings.guards.sequencer_verdict is Verdict.HALT
    assert settings.sizing.hedge_with == {"STETH": "ETH"}
    assert settings.sizing.carry_budget_rel == D("0.01")
    assert (settings.policy.band_rel, settings.policy.cooldown_s) == (D("0.1"), 600)
    assert settings.guards.max_source_divergence_rel == D("0.05")  # untouched: the default


def test_an_empty_table_gives_the_defaults():
    assert StrategySettings.from_mapping(None) == StrategySettings()


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"guards": {"max_jump": 1}}, "strategy.guards.max_jump", "unknown setting"),
        ({"risk": {}}, "strategy.risk", "unknown setting"),
        ({"policy": 3}, "strategy.policy", "must be a table"),
        ({"policy": {"band_rel": "wide"}}, "strategy.policy.band_rel", "must be a number"),
        ({"policy": {"band_rel": True}}, "strategy.policy.band_rel", "must be a number"),
        ({"policy": {"band_rel": "nan"}}, "strategy.policy.band_rel", "must be finite"),
        ({"policy": {"band_rel": 2}}, "strategy.policy.band_rel", "above the maximum 1"),
        ({"policy": {"band_rel": 0.3}}, "strategy.policy.breach_override_rel", "at least band_rel"),
        ({"policy": {"cooldown_s": 1.5}}, "strategy.policy.cooldown_s", "must be an integer"),
        ({"guards": {"sequencer_verdict": "allow"}}, "strategy.guards.sequencer_verdict", "reduce_only or halt"),
        ({"guards": {"unknown_funding_verdict": "ignore"}}, "strategy.guards.unknown_funding_verdict", "one of"),
        ({"guards": {"stable_pause_rel": 0.06}}, "strategy.guards.stable_pause_rel", "must not exceed"),
        ({"guards": {"oracle_staleness_buffer_rel": -0.1}}, "strategy.guards.oracle_staleness_buffer_rel", "below"),
        ({"sizing": {"hedge_with": ["ETH"]}}, "strategy.sizing.hedge_with", "must be a table"),
        ({"sizing": {"target_leverage": 4}}, "strategy.sizing.target_leverage", "must not exceed max_leverage"),
        ({"sizing": {"liquidation_buffer_target": 1.5}}, "strategy.sizing.liquidation_buffer_target", "at least"),
    ],
)
def test_bad_values_name_the_file_and_the_key(table, key, problem):
    with pytest.raises(ConfigError) as raised:
        StrategySettings.from_mapping(table, "networks/test.toml")
    assert (raised.value.file, raised.value.key) == ("networks/test.toml", key)
    assert problem in raised.value.problem


def test_every_threshold_is_documented_with_a_default_and_a_source():
    doc = (Path(__file__).parents[3] / "docs" / "strategy.md").read_text()
    for cls in (GuardSettings, SizingSettings, RebalancePolicy):
        for field in dataclasses.fields(cls):
            name, meaning, source = field.name, field.metadata.get("doc"), field.metadata.get("source")
            assert meaning and source, name
            assert f"`{name}`" in doc, f"{name} is missing from docs/strategy.md"
