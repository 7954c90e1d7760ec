"""Agent configuration: a pydantic model loaded from YAML, JSON or TOML (``load_config``).

Relative paths are resolved against the config file's folder. Unknown keys are errors, so a typo
does not silently fall back to a default. ``ConfigError`` carries one line per problem.
"""

from __future__ import annotations

import json
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twinledger import sim
from twinledger.agent import sources as src
from twinledger.agent.connectors.config import ModbusSourceConfig, MqttSourceConfig, OpcuaSourceConfig
from twinledger.agent.validation import RedundantGroup, SpikeRule, ValidationRules
from twinledger.formats.batch import BATCH_SIZE_LIMIT
from ..errors import TwinLedgerError

__all__ = ["AgentConfig", "ConfigError", "load_config", "parse_config"]


class ConfigError(TwinLedgerError, ValueError):
    """An unreadable or invalid agent configuration."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainConfig(_Model):
    rpc_url: str = "http://127.0.0.1:8545"
    deployment_file: Path | None = None
    confirmations: int = Field(2, ge=0, le=1000)
    poll_interval_s: float = Field(1.0, gt=0)


class FeedConfig(_Model):
    feed_id: int = Field(ge=0, lt=2**64)
    component: str = Field(min_length=1)


class BatchingConfig(_Model):
    window_s: float = Field(1.0, gt=0, le=3600)
    max_readings: int = Field(10_000, ge=1)
    max_bytes: int = Field(BATCH_SIZE_LIMIT - 1, ge=256, lt=BATCH_SIZE_LIMIT)
    group_commit: int = Field(4096, ge=1, le=100_000)  # at most group_delay_s apart, so latency stays bounded
    group_delay_s: float = Field(0.05, ge=0)
    # big batches' roots hashed by helper processes beside ingest, where there is a second core
    background_roots: bool = True


class RetentionConfig(_Model):
    # confirmed batches (and their readings) are deleted from the outbox this long after confirmation
    confirmed_s: float = Field(86_400.0, gt=0)
    every_s: float = Field(60.0, gt=0)      # how often the agent prunes


class BoundsConfig(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> BoundsConfig:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def as_tuple(self) -> tuple[float | None, float | None]:
        return (self.min, self.max)


class GroupConfig(_Model):
    sensors: list[str] = Field(min_length=2)
    tolerance: float = Field(ge=0)
    window_ms: int = Field(1000, ge=0)


class SpikeConfig(_Model):
    max_delta: float = Field(gt=0)
    window: int = Field(5, ge=1, le=1000)


class ValidationConfig(_Model):
    ranges: dict[str, BoundsConfig] = {}
    safety_limits: dict[str, BoundsConfig] = {}    # may only tighten the chain's limits (agent/rules.py)
    redundant_groups: list[GroupConfig] = []
    stuck_count: int = Field(0, ge=0)
    stuck_overrides: dict[str, int] = {}
    spikes: dict[str, SpikeConfig] = {}
    # a reading dated further ahead of the agent's clock is rejected and counted (null: no limit)
    max_clock_skew_s: float | None = Field(300.0, ge=0)


class FaultConfig(_Model):
    kind: Literal["stuck", "broken", "drift", "spikes", "swap"]
    sensor: str
    start_s: float = Field(0.0, ge=0)
    end_s: float = math.inf
    mode: Literal["nan", "none", "garbage", "mixed"] = "mixed"
    rate_per_s: float = 0.01
    probability: float = Field(0.05, ge=0, le=1)
    magnitude: float = 1.0
    new_name: str = ""
    new_serial: str = ""

    @model_validator(mode="after")
    def _swap_has_name(self) -> FaultConfig:
        if self.kind == "swap" and not self.new_name:
            raise ValueError("a swap fault needs new_name")
        return self

    def build(self) -> sim.Fault:
        base: dict[str, Any] = {"sensor": self.sensor, "start_s": self.start_s, "end_s": self.end_s}
        if self.kind == "stuck":
            return sim.Stuck(**base)
        if self.kind == "broken":
            return sim.Broken(**base, mode=self.mode)
        if self.kind == "drift":
            return sim.Drift(**base, rate_per_s=self.rate_per_s)
        if self.kind == "spikes":
            return sim.Spikes(**base, probability=self.probability, magnitude=self.magnitude)
        return sim.Swap(**base, new_name=self.new_name, new_serial=self.new_serial)


class SimulatorSource(_Model):
    kind: Literal["simulator", "sim"]
    seed: int = 0
    rates_hz: dict[str, float] = {name: 10.0 for name in sim.DEFAULT_SENSORS}
    faults: list[FaultConfig] = []
    realtime: bool = True
    mode: Literal["auto", "manual"] = "auto"
    duration_s: float | None = Field(None, gt=0)
    start_ms: int | None = None       # None: now when realtime, a fixed epoch otherwise

    @field_validator("rates_hz")
    @classmethod
    def _rates(cls, rates: dict[str, float]) -> dict[str, float]:
        for name, hz in rates.items():
            if name not in sim.DEFAULT_SENSORS:
                raise ValueError(f"unknown simulated sensor {name!r} (known: {', '.join(sim.DEFAULT_SENSORS)})")
            if not 0 < hz <= 1000:
                raise ValueError(f"rate of {name} must be in (0, 1000] Hz, got {hz}")
        return rates


MAX_LINE_BYTES = Field(src.DEFAULT_MAX_LINE_BYTES, ge=64, le=16 * 1024 * 1024)


class CsvSource(_Model):
    kind: Literal["csv"]
    path: Path
    speed: float | None = Field(None, gt=0)
    max_line_bytes: int = MAX_LINE_BYTES     # a longer line is rejected and counted, never held in memory


class JsonlSource(_Model):
    kind: Literal["jsonl"]
    path: Path
    speed: float | None = Field(None, gt=0)
    max_line_bytes: int = MAX_LINE_BYTES


class StdinSourceConfig(_Model):
    kind: Literal["stdin"]
    format: Literal["auto", "jsonl", "csv"] = "auto"
    max_line_bytes: int = MAX_LINE_BYTES
    # where `{"ack": N}` lines go once N lines are committed: stdout, none, fd:N or a file path
    ack: str = "stdout"

    @field_validator("ack")
    @classmethod
    def _ack(cls, target: str) -> str:
        if target.startswith("fd:") and not target[3:].isdigit():
            raise ValueError(f"ack must be stdout, none, fd:<number> or a file path, got {target!r}")
        return target


SourceConfig = Annotated[
    Union[SimulatorSource, CsvSource, JsonlSource, StdinSourceConfig, OpcuaSourceConfig, MqttSourceConfig,
          ModbusSourceConfig],
    Field(discriminator="kind"),
]


class EncryptionConfig(_Model):
    # Readers come from the chain (permission matrix and scopes at each block), never from a list here.
    enabled: bool = False


class AnchoringConfig(_Model):
    # per_feed: SensorFeed.anchor/anchorMany; aggregated: one GatewayAnchors window per round over every feed
    # (agent/gateway.py; the account needs GATEWAY_ROLE, and every feed a device key).
    mode: Literal["per_feed", "aggregated"] = "per_feed"
    # Anchoring transactions sent before the first receipt is awaited (nonces managed locally).
    max_in_flight: int = Field(8, ge=1, le=256)
    # A transaction not mined this long after its latest broadcast is sent again at its nonce with higher fees.
    receipt_timeout_s: float = Field(30.0, gt=0, le=3600)
    # Batches per transaction: anchorMany inputs (per_feed) or window leaves (aggregated); None: the mode's default.
    max_items: int | None = Field(None, ge=1, le=100_000)
    # The chain's block time in seconds; None: measured from the chain's last blocks at start (0 on automine).
    block_time_s: float | None = Field(None, ge=0, le=600)

    def anchorer_kwargs(self) -> dict[str, float | int]:
        """What the configured anchorer takes (`Anchorer`, `WindowAnchorer`); unset knobs keep its defaults."""
        kwargs: dict[str, float | int] = {"max_in_flight": self.max_in_flight,
                                          "receipt_timeout": self.receipt_timeout_s}
        if self.max_items is not None:
            kwargs["max_items"] = self.max_items
        if self.block_time_s is not None:
            kwargs["block_time"] = self.block_time_s
        return kwargs


class AgentConfig(_Model):
    twin_id: int = Field(ge=0)
    # The device key signs the batches (EIP-712); the account sends the transactions (default: the
    # device key). Each is a key file, or an account as the CLI's --account takes it (TEST::N, an ape alias).
    device_key_file: Path | None = None
    device_account: str | None = None
    account_key_file: Path | None = None
    account: str | None = None
    # Key files may be encrypted keystores (eth-account v3 JSON); their passphrase is read from this
    # environment variable, never prompted for. New device keys (sensor swaps) are always keystores.
    keystore_passphrase_env: str = "TWINLEDGER_KEYSTORE_PASSPHRASE"
    outbox_path: Path = Path(".twinledger/outbox.sqlite")
    ipfs: str = "embedded:.twinledger/ipfs"     # "embedded:<dir>" or "kubo:<rpc url>"
    chain: ChainConfig = ChainConfig()
    # sensor name -> feed; leave out to take them from the chain (the twin's active feeds this device signs)
    feeds: dict[str, FeedConfig] = {}
    batching: BatchingConfig = BatchingConfig()
    retention: RetentionConfig = RetentionConfig()
    validation: ValidationConfig = ValidationConfig()
    source: SourceConfig | None = None
    sources: list[SourceConfig] = []          # several sources at once; ``source`` is the one-source form
    encryption: EncryptionConfig = EncryptionConfig()
    anchoring: AnchoringConfig = AnchoringConfig()
    synchronous: Literal["FULL", "NORMAL"] = "FULL"

    @field_validator("ipfs")
    @classmethod
    def _ipfs(cls, spec: str) -> str:
        kind, sep, rest = spec.partition(":")
        if not sep or kind not in ("embedded", "kubo") or not rest:
            raise ValueError(f"ipfs must be 'embedded:<dir>' or 'kubo:<rpc url>', got {spec!r}")
        return spec

    @model_validator(mode="after")
    def _one_device_key(self) -> AgentConfig:
        if (self.device_key_file is None) == (self.device_account is None):
            raise ValueError("give exactly one of device_key_file and device_account")
        if self.account_key_file is not None and self.account is not None:
            raise ValueError("give at most one of account_key_file and account")
        return self

    @model_validator(mode="after")
    def _some_source(self) -> AgentConfig:
        if (self.source is None) == (not self.sources):
            raise ValueError("give exactly one of source: (one source) and sources: (a list)")
        kinds = [s.kind for s in self.all_sources()]
        if kinds.count("stdin") > 1:
            raise ValueError("stdin can feed only one source")
        return self

    def all_sources(self) -> list[Any]:
        return [self.source] if self.source is not None else list(self.sources)

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        components: dict[int, str] = {}
        for sensor, feed in self.feeds.items():
            if components.setdefault(feed.feed_id, feed.component) != feed.component:
                raise ValueError(f"feed {feed.feed_id} is mapped to two components "
                                 f"({components[feed.feed_id]!r} and {feed.component!r}, via {sensor!r})")
        v = self.validation
        named = [("validation.ranges", v.ranges), ("validation.safety_limits", v.safety_limits),
                 ("validation.spikes", v.spikes), ("validation.stuck_overrides", v.stuck_overrides)]
        named += [(f"validation.redundant_groups[{i}]", g.sensors) for i, g in enumerate(v.redundant_groups)]
        for where, sensors in named:
            if not self.feeds:   # taken from the chain at start; the daemon checks names there
                break
            unknown = sorted(set(sensors) - set(self.feeds))
            if unknown:
                raise ValueError(f"{where} names sensors without a feed: {', '.join(unknown)}")
        return self

    def feed_map(self) -> dict[str, int]:
        return {sensor: feed.feed_id for sensor, feed in self.feeds.items()}

    def validation_rules(self) -> ValidationRules:
        v = self.validation
        return ValidationRules(
            ranges={s: b.as_tuple() for s, b in v.ranges.items()},
            safety={s: b.as_tuple() for s, b in v.safety_limits.items()},
            groups=tuple(RedundantGroup(tuple(g.sensors), g.tolerance, g.window_ms) for g in v.redundant_groups),
            stuck_count=v.stuck_count,
            stuck_overrides=dict(v.stuck_overrides),
            spikes={s: SpikeRule(r.max_delta, r.window) for s, r in v.spikes.items()},
            known_sensors=frozenset(self.feeds),
            max_future_ms=None if v.max_clock_skew_s is None else int(v.max_clock_skew_s * 1000),
        )

    def build_source(self, *, start_ms: int | None = None) -> src.Source:
        """The single source (``source:``, or a one-entry ``sources:``)."""
        built = self.build_sources(start_ms=start_ms)
        if len(built) != 1:
            raise ConfigError(f"the config has {len(built)} sources; use build_sources")
        return built[0]

    def build_sources(self, *, start_ms: int | None = None, last_committed: Any = None) -> list[src.Source]:
        """Every configured source; ``last_committed(sensor)`` (the outbox's last source time) lets a
        plant source with history backfill what it missed while the agent was down."""
        return [self._build(s, start_ms, last_committed) for s in self.all_sources()]

    @staticmethod
    def _build(s: Any, start_ms: int | None, last_committed: Any) -> src.Source:
        if isinstance(s, (OpcuaSourceConfig, MqttSourceConfig, ModbusSourceConfig)):
            return s.build(last_committed)
        if isinstance(s, SimulatorSource):
            import time
            start = s.start_ms if s.start_ms is not None else (
                start_ms if start_ms is not None else (time.time_ns() // 1_000_000 if s.realtime else 1_700_000_000_000))
            return sim.FillingPlantSimulator(seed=s.seed, rates_hz=s.rates_hz, faults=[f.build() for f in s.faults],
                                             start_ms=start, duration_s=s.duration_s, realtime=s.realtime, mode=s.mode)
        if isinstance(s, CsvSource):
            return src.CsvReplay(s.path, speed=s.speed, max_line_bytes=s.max_line_bytes)
        if isinstance(s, JsonlSource):
            return src.JsonLinesReplay(s.path, speed=s.speed, max_line_bytes=s.max_line_bytes)
        return src.StdinSource(fmt=s.format, max_line_bytes=s.max_line_bytes)


_PATH_FIELDS = (("device_key_file",), ("account_key_file",), ("outbox_path",), ("chain", "deployment_file"), ("source", "path"))
_SOURCE_PATH_FIELDS = (("path",), ("security", "certificate"), ("security", "private_key"),
                       ("security", "server_certificate"))


def parse_config(data: Any, *, base_dir: Path | None = None, origin: str = "config") -> AgentConfig:
    """Validate already-parsed data; relative paths are resolved against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, got {type(data).__name__}")
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{origin}: {exc.error_count()} problem(s):"]
        lines += [f"  {_problem(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _problem(err: Any) -> str:
    """One pydantic error as one line that says what to do."""
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown key {loc[-1]!r}: remove it or fix its spelling{hint}"
    if err["type"] == "missing":
        return f"{where}: required: add it"
    return f"{where}: {err['msg']}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at ``loc`` (following nested models, lists, dicts and source kinds)."""
    current: Any = AgentConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        if typing.get_origin(current) in (list, dict):   # an index or a key: the element type
            current = typing.get_args(current)[-1]
            continue
        members = _models(current)
        tagged = [m for m in members if "kind" in m.model_fields
                  and part in typing.get_args(m.model_fields["kind"].annotation)]
        if tagged:
            current = tagged[0]
        elif len(members) == 1:
            current = members[0]
        else:
            return []
    models = [current] if isinstance(current, type) and issubclass(current, BaseModel) else _models(current)
    return sorted(models[0].model_fields) if len(models) == 1 else []


def _models(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an Optional / Union / Annotated type."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if typing.get_origin(tp) in (list, dict):
        return []
    return [m for arg in typing.get_args(tp) for m in _models(arg)]


def _resolve_paths(config: AgentConfig, base: Path) -> AgentConfig:
    def fix(model: BaseModel, path: tuple[str, ...]) -> BaseModel:
        name, rest = path[0], path[1:]
        value = getattr(model, name, None)
        if value is None:
            return model
        if rest:
            return model.model_copy(update={name: fix(value, rest)})
        if isinstance(value, Path) and not value.is_absolute():
            return model.model_copy(update={name: base / value})
        return model

    for path in _PATH_FIELDS:
        config = fix(config, path)  # type: ignore[assignment]
    sources = []
    for source in config.all_sources():
        for path in _SOURCE_PATH_FIELDS:
            source = fix(source, path)
        sources.append(source)
    config = config.model_copy(update={"source": sources[0]} if config.source is not None else {"sources": sources})
    kind, _, rest = config.ipfs.partition(":")
    if kind == "embedded" and not Path(rest).is_absolute():
        config = config.model_copy(update={"ipfs": f"embedded:{base / rest}"})
    return config


def load_config(path: str | Path) -> AgentConfig:
    """Read a ``.yaml``/``.yml``, ``.json`` or ``.toml`` file into an ``AgentConfig``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:  # PyYAML comes with ape; a bare install may lack it
                raise ConfigError(f"{path}: YAML needs PyYAML; use JSON or TOML instead") from None
            data = yaml.safe_load(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config type {suffix!r} (use .yaml, .json or .toml)")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - each parser has its own error class; all mean "not parseable"
        raise ConfigError(f"{path}: cannot parse: {exc}") from None
    return parse_config(data, base_dir=path.resolve().parent, origin=str(path))
