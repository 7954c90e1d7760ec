"""Agent config: YAML/JSON/TOML loading, path resolution, cross-checks and clear errors."""

import json

import pytest

from twinledger.agent.config import ConfigError, load_config, parse_config
from twinledger.sim import FillingPlantSimulator, Swap
from twinledger.agent.validation import Validator

YAML = """
twin_id: 1
device_key_file: keys/device.json
ipfs: embedded:ipfs
chain: {rpc_url: "http://127.0.0.1:8545", confirmations: 3}
feeds:
  tank_level_a: {feed_id: 1, component: tank}
  tank_level_b: {feed_id: 2, component: tank}
  pipe_flow: {feed_id: 3, component: pipe}
batching: {window_s: 0.5, max_readings: 2000}
validation:
  ranges: {tank_level_a: {min: 0, max: 2}}
  safety_limits: {pipe_flow: {max: 0.5}}
  redundant_groups: [{sensors: [tank_level_a, tank_level_b], tolerance: 0.05, window_ms: 200}]
  stuck_count: 50
  spikes: {pipe_flow: {max_delta: 0.3}}
source:
  kind: simulator
  seed: 7
  realtime: false
  duration_s: 2
  rates_hz: {tank_level_a: 10, tank_level_b: 10, pipe_flow: 100}
  faults:
    - {kind: swap, sensor: tank_level_b, start_s: 1, new_name: tank_level_bb}
encryption: {enabled: true}
"""


def test_yaml_config_round_trip(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text(YAML)
    cfg = load_config(path)
    assert cfg.device_key_file == tmp_path / "keys/device.json"
    assert cfg.outbox_path == tmp_path / ".twinledger/outbox.sqlite"
    assert cfg.ipfs == f"embedded:{tmp_path / 'ipfs'}"
    assert cfg.chain.confirmations == 3 and cfg.encryption.enabled
    assert cfg.feed_map() == {"tank_level_a": 1, "tank_level_b": 2, "pipe_flow": 3}
    rules = cfg.validation_rules()
    assert rules.safety == {"pipe_flow": (None, 0.5)} and rules.groups[0].tolerance == 0.05
    assert rules.known_sensors == {"tank_level_a", "tank_level_b", "pipe_flow"}
    Validator(rules)
    source = cfg.build_source()
    assert isinstance(source, FillingPlantSimulator) and source.start_ms == 1_700_000_000_000
    assert isinstance(source._faults[0], Swap)
    assert len(list(source)) == 2 * 120 + 1


def test_json_and_toml(tmp_path):
    data = {"twin_id": 2, "device_key_file": "/k", "feeds": {"a": {"feed_id": 0, "component": "c"}},
            "source": {"kind": "csv", "path": "in.csv"}}
    (tmp_path / "a.json").write_text(json.dumps(data))
    assert load_config(tmp_path / "a.json").source.path == tmp_path / "in.csv"
    (tmp_path / "a.toml").write_text(
        'twin_id = 2\ndevice_key_file = "/k"\n[feeds.a]\nfeed_id = 0\ncomponent = "c"\n'
        '[source]\nkind = "stdin"\nformat = "csv"\n')
    cfg = load_config(tmp_path / "a.toml")
    assert cfg.source.format == "csv" and cfg.device_key_file.as_posix() == "/k"


BASE = {"twin_id": 1, "device_key_file": "k", "feeds": {"a": {"feed_id": 1, "component": "c"}},
        "source": {"kind": "stdin"}}


@pytest.mark.parametrize("change, message", [
    ({"twin_id": -1}, "twin_id"),
    ({"typo_key": 1}, "typo_key"),
    ({"source": {"kind": "modbus"}}, "source"),
    ({"source": {"kind": "simulator", "rates_hz": {"pipe_flow": 5000}}}, "1000"),
    ({"source": {"kind": "simulator", "faults": [{"kind": "swap", "sensor": "pipe_flow"}]}}, "new_name"),
    ({"batching": {"max_bytes": 300_000}}, "batching.max_bytes"),
    ({"batching": {"window_s": 0}}, "window_s"),
    ({"ipfs": "s3://bucket"}, "ipfs"),
    ({"anchoring": {"max_in_flight": 0}}, "anchoring.max_in_flight"),
    ({"anchoring": {"receipt_timeout_s": 0}}, "anchoring.receipt_timeout_s"),
    ({"anchoring": {"mode": "batched"}}, "anchoring.mode"),
    ({"validation": {"ranges": {"zzz": {"min": 0}}}}, "zzz"),
    ({"validation": {"ranges": {"a": {"min": 2, "max": 1}}}}, "above max"),
    ({"validation": {"redundant_groups": [{"sensors": ["a"], "tolerance": 1}]}}, "sensors"),
    ({"feeds": {"a": {"feed_id": 1, "component": "c"}, "b": {"feed_id": 1, "component": "d"}}}, "two components"),
])
def test_bad_configs_have_clear_errors(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config({**BASE, **change}, origin="agent.yaml")
    assert str(info.value).startswith("agent.yaml:")


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("feeds: [unclosed")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config type"):
        load_config(tmp_path / "x.ini")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.json")


def test_keys_can_be_named_as_accounts_and_exactly_one_device_key_is_required():
    from twinledger.agent.config import ConfigError, parse_config

    base = {"twin_id": 1, "feeds": {"a": {"feed_id": 1, "component": "c"}}, "source": {"kind": "stdin"}}
    cfg = parse_config({**base, "device_account": "TEST::9", "account": "TEST::6"})
    assert (cfg.device_account, cfg.account, cfg.device_key_file) == ("TEST::9", "TEST::6", None)
    with pytest.raises(ConfigError, match="exactly one of device_key_file and device_account"):
        parse_config(base)
    with pytest.raises(ConfigError, match="exactly one of device_key_file and device_account"):
        parse_config({**base, "device_account": "TEST::9", "device_key_file": "/k"})


def test_anchoring_knobs_reach_the_anchorer_and_unset_ones_keep_its_defaults():
    cfg = parse_config({**BASE, "anchoring": {"mode": "aggregated", "max_in_flight": 3, "receipt_timeout_s": 45,
                                              "block_time_s": 12}}, origin="agent.yaml")
    assert cfg.anchoring.anchorer_kwargs() == {"max_in_flight": 3, "receipt_timeout": 45.0, "block_time": 12.0}
    assert parse_config(BASE, origin="agent.yaml").anchoring.anchorer_kwargs() == {"max_in_flight": 8,
                                                                                  "receipt_timeout": 30.0}
