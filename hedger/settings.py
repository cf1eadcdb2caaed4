"""Configuration: networks/<name>.toml plus the environment (.env via python-dotenv) → validated settings.

A network file names the chain (its id is pinned: the RPC must serve the same chain), every contract
address hedger may read or write, the feeds with their heartbeats and price bounds, the tokens, the
sequencer uptime feed and the venues. Addresses live here, never in code. Every problem is a
`ConfigError` that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from hedger.chain.abi import to_checksum_address
from hedger.chain.toolchain import checkout_root
from hedger.errors import ConfigError

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NEAR_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{30,50}$")  # hex of about an address's length: a mistyped one
_URL_WITH_SECRET = re.compile(r"://[^/]*:[^/]*@|[?&](api[-_]?key|key|token)=|/v[23]/[0-9a-zA-Z]{16,}", re.IGNORECASE)
DEFAULT_RPC_TIMEOUT_S = 30.0
DEFAULT_MAX_REQUEST_BYTES = 1_000_000  # one HTTP request's body: well under the 2 MiB many nodes (Anvil) accept
DEFAULT_ETH_CALL_GAS_CAP = 25_000_000  # gas one aggregate3 eth_call is planned to use: 30M node caps, with headroom
DEFAULT_CONFIRMATIONS = 3


# ---------------------------------------------------------------------------------------------- typed values


def _number(value: Any) -> Decimal:
    """A TOML int, float or decimal string as a finite Decimal (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, got {type(value).__name__} {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (a TOML boolean, unquoted), got {value!r}")
    return value


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a non-negative integer, got {value!r}")
    return value


def positive_decimal(value: Any) -> Decimal:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return number


def non_negative_decimal(value: Any) -> Decimal:
    number = _number(value)
    if number < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return number


def at_least_one(value: Any) -> Decimal:
    number = _number(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return number


def any_decimal(value: Any) -> Decimal:
    return _number(value)


def positive_seconds(value: Any) -> float:
    return float(positive_decimal(value))


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


Converter = Callable[[Any], Any]


def one_of(*choices: str) -> Converter:
    def choice(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return str(value)

    return choice


NEW_HEADS_MODES = ("auto", "ws", "poll")  # how the keeper learns of a new block (hedger.chain.heads)

# The [execution] and [keeper] tables: every key, typed. hedger.execution and hedger.app read them.
EXECUTION_KEYS: dict[str, Converter] = {
    "max_fee_per_gas_gwei": positive_decimal,
    "max_priority_fee_gwei": non_negative_decimal,
    "base_fee_multiplier": at_least_one,
    "replacement_bump": non_negative_decimal,  # ≥ 0.125 checked by the send policy
    "gas_limit_multiplier": at_least_one,
    "receipt_timeout_s": positive_seconds,
    "stuck_after_s": positive_seconds,
    "max_replacements": non_negative_int,
    "poll_interval_s": positive_seconds,
    "max_rejections": non_negative_int,
    "max_failures": non_negative_int,
    "window_s": positive_int,
    "backoff_base_s": non_negative_int,
    "reduce_when_halted": boolean,
    "ratio_min": any_decimal,
    "ratio_max": any_decimal,
    "dust_notional_usd": non_negative_decimal,
    "sender_wait_s": non_negative_decimal,
}
KEEPER_KEYS: dict[str, Converter] = {
    "poll_interval_s": positive_seconds,
    "gas_budget_per_day": non_negative_decimal,
    "kill_switch_file": text,
    "max_backoff_s": positive_seconds,
    "dry_run": boolean,
    "max_cycles": positive_int,
    "json_logs": boolean,
    "lease": boolean,
    "lease_ttl_blocks": positive_int,
    "lease_ttl_s": positive_seconds,
    "new_heads": one_of(*NEW_HEADS_MODES),
}
TOP_LEVEL_KEYS = ("network", "feeds", "tokens", "venues", "sequencer", "strategy", "execution", "keeper", "accounts")
NETWORK_KEYS = ("name", "chain_id", "multicall", "native_asset", "native_feed", "rpc_env", "rpc_url", "rpc_timeout_s",
                "confirmations", "read_at", "explorer", "max_request_bytes", "eth_call_gas_cap")  # fmt: skip
FEED_KEYS = ("address", "asset", "decimals", "heartbeat_s", "min_price", "max_price", "role")
TOKEN_KEYS = ("address", "decimals", "asset", "feed", "stablecoin", "peg")
SEQUENCER_KEYS = ("feed", "grace_period_s")


def did_you_mean(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known keys: {', '.join(sorted(known))}"


def reject_unknown(table: Mapping[str, Any], known: Any, file: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(file, where, "unknown key", did_you_mean(key, known))


def typed_table(table: Any, schema: Mapping[str, Converter], file: str, prefix: str) -> dict[str, Any]:
    """A settings table with every key known and every value of its type (else ConfigError)."""
    if not isinstance(table, Mapping):
        raise ConfigError(file, prefix, "must be a table")
    reject_unknown(table, schema, file, prefix)
    out = {}
    for key, value in table.items():
        try:
            out[key] = schema[key](value)
        except ValueError as error:
            raise ConfigError(file, f"{prefix}.{key}" if prefix else key, str(error)) from None
    return out


@dataclass(frozen=True)
class FeedConfig:
    name: str
    address: str
    asset: str
    decimals: int
    heartbeat_s: int
    min_price: Decimal
    max_price: Decimal
    role: str = "primary"


@dataclass(frozen=True)
class TokenConfig:
    symbol: str
    address: str
    decimals: int
    asset: str
    feed: str
    stablecoin: bool = False  # a US-dollar stablecoin: margin, valued near $1 (depeg guards), never hedged
    peg: str = "USD"  # the currency a stablecoin tracks; another one (EURC: EUR) makes it FX exposure


@dataclass(frozen=True)
class MarketConfig:
    """A venue market: its symbol, the asset it hedges, and the venue-specific keys in `params`."""

    symbol: str
    asset: str
    params: Mapping[str, Any]
    file: str
    key: str

    def require(self, name: str, kind: type = str) -> Any:
        return _Table(self.params, self.file, self.key).required(name, kind)


@dataclass(frozen=True)
class VenueConfig:
    """A venue: its kind (which adapter), its contracts and its markets."""

    name: str
    kind: str
    params: Mapping[str, Any]
    markets: Mapping[str, MarketConfig]
    file: str

    def require(self, name: str, kind: type = str) -> Any:
        return _Table(self.params, self.file, f"venues.{self.name}").required(name, kind)


@dataclass(frozen=True)
class SequencerConfig:
    address: str
    grace_period_s: int


@dataclass(frozen=True)
class NetworkConfig:
    name: str
    chain_id: int
    file: str
    multicall: str
    native_asset: str
    native_feed: str | None
    rpc_env: str
    rpc_url_in_file: str | None
    feeds: Mapping[str, FeedConfig]
    tokens: Mapping[str, TokenConfig]
    venues: Mapping[str, VenueConfig]
    sequencer: SequencerConfig | None
    strategy: Mapping[str, Any] = field(default_factory=dict)
    execution: Mapping[str, Any] = field(default_factory=dict)
    keeper: Mapping[str, Any] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)
    addresses: frozenset[str] = frozenset()
    read_at: str = "block"  # "latest" where the node answers eth_call only at the head (HyperEVM)
    explorer: str | None = None  # block explorer base URL (links only: hedger never requests it)
    rpc_timeout_s: float = DEFAULT_RPC_TIMEOUT_S  # total budget of one RPC call, retries included
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # a round's batch is split into HTTP requests below this
    eth_call_gas_cap: int = DEFAULT_ETH_CALL_GAS_CAP  # aggregate3 chunks are planned to use at most this much gas
    confirmations: int = DEFAULT_CONFIRMATIONS  # blocks on top of a transaction's before it counts as final

    def rpc_url(self, override: str | None = None) -> str:
        """The RPC URL: an explicit override, else the network's environment variable, else the file's."""
        url = override or os.environ.get(self.rpc_env) or self.rpc_url_in_file
        if not url:
            raise ConfigError(
                self.file,
                "network.rpc_env",
                f"no RPC URL: {self.rpc_env} is not set",
                f"set {self.rpc_env}=https://… in the environment or in .env (or pass --rpc-url)",
            )
        origin = "--rpc-url" if override else (self.rpc_env if os.environ.get(self.rpc_env) else "network.rpc_url")
        check_rpc_url(url, origin)
        return url

    def is_known_address(self, address: str) -> bool:
        """True for addresses this file names (the only ones hedger will send transactions to)."""
        return to_checksum_address(address) in self.addresses


def check_rpc_url(url: str, origin: str) -> None:
    """An RPC URL must be http(s)://host…; the error shows it redacted (it may carry a key)."""
    from hedger.chain.redact import redact_url

    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/")[0].split("@")[-1]:
        raise ConfigError(origin, "rpc url", f"{redact_url(url)} is not an http(s) URL",
                          "give an HTTP(S) JSON-RPC endpoint, e.g. http://127.0.0.1:8545")  # fmt: skip


def network_dirs() -> list[Path]:
    """Where network files are looked up by name, first match wins: HEDGER_NETWORKS_DIR, ./networks, the
    checkout's networks/ (when hedger runs from one), the user's ($XDG_CONFIG_HOME or ~/.config)/hedger/networks,
    then the files shipped with hedger (installed under <prefix>/share/hedger/networks)."""
    explicit = os.environ.get("HEDGER_NETWORKS_DIR")
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    checkout = checkout_root()
    candidates = [
        *([Path(explicit)] if explicit else []),
        Path.cwd() / "networks",
        *([checkout / "networks"] if checkout else []),
        config_home / "hedger" / "networks",
        Path(sys.prefix) / "share" / "hedger" / "networks",
    ]
    unique: list[Path] = []
    for directory in candidates:
        if directory.resolve() not in (d.resolve() for d in unique):
            unique.append(directory)
    return unique


def find_network_file(name_or_path: str) -> Path:
    """A network file by path (anything ending in .toml) or by name (`arbitrum-one`), see `network_dirs`."""
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(str(path), "(file)", "not found", "check the path, or pass a network name")
        return path
    dirs = network_dirs()
    for directory in dirs:
        path = directory / f"{name_or_path}.toml"
        if path.is_file():
            return path
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise ConfigError(
        f"{name_or_path}.toml",
        "(file)",
        f"no network file of that name in {', '.join(str(d) for d in dirs)}",
        f"pick one of {known}, pass a path to a .toml file, or run `hedger chain up` to write local.toml",
    )


def load_network(name_or_path: str) -> NetworkConfig:
    """Load a network file by name or path (see `find_network_file`) and validate it."""
    path = find_network_file(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "(syntax)", str(error)) from error
    except UnicodeDecodeError as error:
        raise ConfigError(str(path), "(encoding)", f"not UTF-8 text: {error}", "save the file as UTF-8") from None
    return parse_network(doc, str(path))


def parse_network(doc: Mapping[str, Any], file: str) -> NetworkConfig:
    reject_unknown(doc, TOP_LEVEL_KEYS, file, "")
    addresses = _check_addresses(doc, file)
    net = _Table(doc, file).table("network")
    reject_unknown(net.data, NETWORK_KEYS, file, "network")
    rpc_url = net.optional("rpc_url", str)
    if rpc_url and _URL_WITH_SECRET.search(rpc_url):
        raise ConfigError(file, "network.rpc_url", "looks like it carries an API key", "put it in .env instead")
    feeds = {name: _feed(name, t) for name, t in _Table(doc, file).tables("feeds")}
    tokens = {symbol: _token(symbol, t, feeds) for symbol, t in _Table(doc, file).tables("tokens")}
    network = NetworkConfig(
        name=net.required("name", str),
        chain_id=net.required("chain_id", int),
        file=file,
        multicall=net.required("multicall", str),
        native_asset=net.optional("native_asset", str) or "ETH",
        native_feed=net.optional("native_feed", str),
        rpc_env=net.optional("rpc_env", str) or f"HEDGER_RPC_{net.required('name', str).upper().replace('-', '_')}",
        rpc_url_in_file=rpc_url,
        feeds=feeds,
        tokens=tokens,
        venues={name: _venue(name, t) for name, t in _Table(doc, file).tables("venues")},
        sequencer=_sequencer(_Table(doc, file)),
        strategy=dict(doc.get("strategy", {})),
        execution=typed_table(doc.get("execution", {}), EXECUTION_KEYS, file, "execution"),
        keeper=typed_table(doc.get("keeper", {}), KEEPER_KEYS, file, "keeper"),
        accounts=_accounts(_Table(doc, file)),
        addresses=addresses,
        read_at=net.optional("read_at", str) or "block",
        explorer=(net.optional("explorer", str) or "").rstrip("/") or None,
        rpc_timeout_s=_converted(net, "rpc_timeout_s", positive_seconds, DEFAULT_RPC_TIMEOUT_S),
        max_request_bytes=_converted(net, "max_request_bytes", positive_int, DEFAULT_MAX_REQUEST_BYTES),
        eth_call_gas_cap=_converted(net, "eth_call_gas_cap", positive_int, DEFAULT_ETH_CALL_GAS_CAP),
        confirmations=_converted(net, "confirmations", non_negative_int, DEFAULT_CONFIRMATIONS),
    )
    if network.read_at not in ("block", "latest"):
        raise ConfigError(file, "network.read_at", f'is {network.read_at!r}: use "block" or "latest"')
    if network.chain_id <= 0:
        raise ConfigError(file, "network.chain_id", f"must be a positive integer, got {network.chain_id}")
    if network.native_feed and network.native_feed not in feeds:
        raise ConfigError(file, "network.native_feed", f"names unknown feed {network.native_feed!r}")
    return network


def _converted(t: _Table, name: str, convert: Converter, default: Any) -> Any:
    if name not in t.data:
        return default
    try:
        return convert(t.data[name])
    except ValueError as error:
        raise ConfigError(t.file, t.key(name), str(error)) from None


def _accounts(doc: _Table) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for name, value in doc.data.get("accounts", {}).items():
        if not isinstance(value, str) or not _ADDRESS.match(value):
            raise ConfigError(doc.file, f"accounts.{name}", f"{value!r} is not an address")
        accounts[name] = to_checksum_address(value)
    return accounts


class _Table:
    """A TOML table with its dotted key path, for error messages that point at the key."""

    def __init__(self, data: Mapping[str, Any], file: str, path: str = ""):
        self.data, self.file, self.path = data, file, path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def table(self, name: str) -> _Table:
        value = self.data.get(name)
        if not isinstance(value, Mapping):
            raise ConfigError(self.file, self.key(name), "required table is missing")
        return _Table(value, self.file, self.key(name))

    def tables(self, name: str) -> list[tuple[str, _Table]]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(self.file, self.key(name), "must be a table")
        return [(k, _Table(v, self.file, f"{self.key(name)}.{k}")) for k, v in value.items()]

    def required(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        if value is None:
            raise ConfigError(self.file, self.key(name), "required key is missing")
        return self._typed(name, value, kind)

    def optional(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        return None if value is None else self._typed(name, value, kind)

    def decimal(self, name: str) -> Decimal:
        raw = self.required(name, str)
        try:
            value = Decimal(raw)
        except InvalidOperation as error:
            raise ConfigError(self.file, self.key(name), f"{raw!r} is not a decimal number") from error
        if not value.is_finite() or value < 0:
            raise ConfigError(self.file, self.key(name), f"{raw!r} must be a finite, non-negative number")
        return value

    def _typed(self, name: str, value: Any, kind: type) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.file, self.key(name), f"must be {kind.__name__}, got {type(value).__name__}")
        return value


def _feed(name: str, t: _Table) -> FeedConfig:
    reject_unknown(t.data, FEED_KEYS, t.file, t.path)
    feed = FeedConfig(
        name=name,
        address=t.required("address", str),
        asset=t.required("asset", str),
        decimals=t.required("decimals", int),
        heartbeat_s=t.required("heartbeat_s", int),
        min_price=t.decimal("min_price"),
        max_price=t.decimal("max_price"),
        role=t.optional("role", str) or "primary",
    )
    if feed.heartbeat_s <= 0:
        raise ConfigError(
            t.file,
            t.key("heartbeat_s"),
            f"must be a positive number of seconds, got {feed.heartbeat_s}",
            "a heartbeat of 0 or less would call every reading stale: use the feed's published heartbeat",
        )
    if not 0 <= feed.decimals <= 36:
        raise ConfigError(t.file, t.key("decimals"), f"must be between 0 and 36, got {feed.decimals}")
    if feed.min_price >= feed.max_price:
        raise ConfigError(t.file, t.key("min_price"), "must be below max_price")
    if feed.role not in ("primary", "secondary"):
        raise ConfigError(t.file, t.key("role"), "must be 'primary' or 'secondary'")
    return feed


def _token(symbol: str, t: _Table, feeds: Mapping[str, FeedConfig]) -> TokenConfig:
    reject_unknown(t.data, TOKEN_KEYS, t.file, t.path)
    token = TokenConfig(
        symbol=symbol,
        address=t.required("address", str),
        decimals=t.required("decimals", int),
        asset=t.required("asset", str),
        feed=t.required("feed", str),
        stablecoin=bool(t.optional("stablecoin", bool)),
        peg=t.optional("peg", str) or "USD",
    )
    if not 0 <= token.decimals <= 36:
        raise ConfigError(t.file, t.key("decimals"), f"must be between 0 and 36, got {token.decimals}")
    if token.feed not in feeds:
        raise ConfigError(t.file, t.key("feed"), f"names unknown feed {token.feed!r}", f"known feeds: {sorted(feeds)}")
    if token.peg != "USD":
        # a euro (or yen, …) stablecoin is not a dollar: it is exposure to its currency, priced by its feed
        if token.asset != token.peg:
            raise ConfigError(
                t.file, t.key("asset"), f"a {token.peg} stablecoin's exposure is {token.peg}, not {token.asset!r}",
                f"set asset = {token.peg!r} and its feed to {token.peg}/USD",
            )  # fmt: skip
        token = dataclasses.replace(token, stablecoin=False)
    return token


def _venue(name: str, t: _Table) -> VenueConfig:
    markets = {
        symbol: MarketConfig(symbol, m.required("asset", str), _unsigned_integers(m), t.file, m.path)
        for symbol, m in t.tables("markets")
    }
    params = {k: v for k, v in t.data.items() if k != "markets"}
    return VenueConfig(name, t.required("kind", str), params, markets, t.file)


def _unsigned_integers(market: _Table) -> dict[str, Any]:
    """A market's keys; its integers (ids, indices, decimals) are never negative: they go on chain as uints."""
    for key, value in market.data.items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ConfigError(market.file, market.key(key), f"{value} is negative", "market ids and indices are >= 0")
    return dict(market.data)


def _sequencer(doc: _Table) -> SequencerConfig | None:
    if "sequencer" not in doc.data:
        return None
    t = doc.table("sequencer")
    reject_unknown(t.data, SEQUENCER_KEYS, t.file, t.path)
    grace = t.required("grace_period_s", int)
    if grace < 0:
        raise ConfigError(t.file, t.key("grace_period_s"), f"must not be negative, got {grace}")
    return SequencerConfig(t.required("feed", str), grace)


def _check_addresses(doc: Any, file: str, path: str = "") -> frozenset[str]:
    """Every address-shaped string must be EIP-55 checksummed; returns them all (the allowlist)."""
    found: set[str] = set()
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            found |= _check_addresses(value, file, f"{path}.{key}" if path else str(key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found |= _check_addresses(value, file, f"{path}[{index}]")
    elif isinstance(doc, str) and _ADDRESS.match(doc):
        checksummed = to_checksum_address(doc)
        if doc != checksummed:
            raise ConfigError(file, path, f"address {doc} is not checksummed", f"write it as {checksummed}")
        found.add(checksummed)
    elif isinstance(doc, str) and (path.rpartition(".")[2].endswith("address") or _NEAR_ADDRESS.match(doc)):
        raise ConfigError(file, path, f"{doc!r} is not an address", "an address is 0x and 40 hex digits (EIP-55)")
    return frozenset(found)


# ---------------------------------------------------------------------------------------------- a fleet file

# What `hedger keeper run --fleet FILE` reads: the accounts one keeper process serves, and the lease.
FLEET_KEYS: dict[str, Converter] = {
    "holder": text,
    "journal": text,
    **{k: KEEPER_KEYS[k] for k in ("poll_interval_s", "max_backoff_s", "json_logs", "lease_ttl_blocks", "lease_ttl_s")},
}
FLEET_ACCOUNT_KEYS: dict[str, Converter] = {
    "network": text,
    "address": text,
    "key_env": text,
    **{k: KEEPER_KEYS[k] for k in ("gas_budget_per_day", "kill_switch_file", "dry_run")},
}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class FleetAccount:
    """One account a fleet keeper serves: its network, address, the variable holding its key, and its
    own [keeper] settings (over the network file's)."""

    network: str
    address: str
    key_env: str
    keeper: Mapping[str, Any]


@dataclass(frozen=True)
class FleetConfig:
    file: str
    accounts: tuple[FleetAccount, ...]
    holder: str | None  # this process's name in the leases (HEDGER_HOLDER / --holder win)
    journal: str | None  # the shared journal (--journal / HEDGER_JOURNAL win)
    keeper: Mapping[str, Any]  # [keeper] settings for every account (poll interval, lease ttl, …)


def load_fleet(path: str | Path) -> FleetConfig:
    """A fleet file: top-level keeper settings and an `[[accounts]]` array (network, address, key_env,
    gas_budget_per_day, …). Every problem is a ConfigError naming the file and the key."""
    file = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(file, "-", f"cannot read the fleet file: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(file, "-", f"not valid UTF-8 TOML: {error}") from None
    entries = doc.pop("accounts", None)
    top = typed_table(doc, FLEET_KEYS, file, "")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(file, "accounts", "needs at least one [[accounts]] entry (network and address)")
    accounts = tuple(_fleet_account(entry, file, f"accounts[{index}]") for index, entry in enumerate(entries))
    seen: set[tuple[str, str]] = set()
    for index, account in enumerate(accounts):
        key = (account.network, account.address)
        if key in seen:
            raise ConfigError(file, f"accounts[{index}]", f"{account.address} on {account.network} is listed twice")
        seen.add(key)
    settings = {k: v for k, v in top.items() if k not in ("holder", "journal")}
    return FleetConfig(file, accounts, top.get("holder"), top.get("journal"), settings)


def _fleet_account(entry: Any, file: str, where: str) -> FleetAccount:
    table = typed_table(entry, FLEET_ACCOUNT_KEYS, file, where)
    for required in ("network", "address"):
        if required not in table:
            raise ConfigError(file, f"{where}.{required}", "missing")
    if not _ADDRESS.match(table["address"]):
        raise ConfigError(file, f"{where}.address", f"{table['address']!r} is not an address")
    key_env = table.get("key_env", "HEDGER_PRIVATE_KEY")
    if not _ENV_NAME.match(key_env):
        raise ConfigError(file, f"{where}.key_env", f"{key_env!r} is not an environment variable name",
                          "name the variable that holds the key (e.g. HEDGER_KEY_TREASURY), never the key")  # fmt: skip
    keeper = {k: v for k, v in table.items() if k not in ("network", "address", "key_env")}
    return FleetAccount(table["network"], to_checksum_address(table["address"]), key_env, keeper)


def load_env(path: str | Path | None = None) -> None:
    """Read `.env` (python-dotenv) into the environment without overriding what is already set."""
    from dotenv import load_dotenv

    load_dotenv(path or Path.cwd() / ".env", override=False)
