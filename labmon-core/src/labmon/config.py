"""Load and validate a node's TOML config before anything starts."""

from __future__ import annotations

import fnmatch
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labmon.messages import MAX_PAYLOAD
from labmon.options import (
    ByteSize,
    ConfigError,
    Duration,
    InputPath,
    OptionError,
    Problem,
    Secret,
    Where,
    build,
    check_spans,
)
from labmon.plugins import Kind, Registry
from labmon.rule_config import (
    ALONE,
    DAYS,
    DEPENDS_FIX,
    MEASURER_DEPENDENCY,
    MuteWindow,
    RuleConfig,
    dependency_order,
    minute_of_day,
    selector_covers,
)

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_KEEPALIVE = 65535.0
"""MQTT sends the keepalive as a 16-bit number of seconds."""
FORBIDDEN = {"topic_prefix": ("+", "#", "\0"), "client_id_prefix": ("\0",)}
"""Characters MQTT does not allow in a topic labmon publishes to (wildcards, NUL) or in a client id (NUL)."""
NAME_FIX = "use letters, digits, '_', '-' and '.' only (names become MQTT topic levels)"

KNOWN_TYPES = {
    ("sink", "sqlite"): "labmon-collector",
    ("sink", "ifttt"): "labmon-ifttt",
    ("sink", "influx"): "labmon-influx",
    ("sink", "postgres"): "labmon-postgres",
    ("notifier", "discord"): "labmon-discord",
    ("notifier", "apprise"): "labmon-apprise",
    ("instrument", "rigol"): "labmon-rigol",
    ("instrument", "scpi"): "labmon-rigol",
    ("instrument", "pymeasure"): "labmon-pymeasure",
}
"""The labmon package that provides each of labmon's own plugin types, for the fix of a config that names one."""


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to reach an MQTT broker."""

    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "labmon"
    client_id_prefix: str = "labmon"
    username: str | None = None
    password: Secret | None = None
    tls: bool = False
    ca_file: InputPath | None = None
    keepalive: Duration = Duration(30.0)
    max_payload: int = MAX_PAYLOAD

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise OptionError("host", "is empty", 'set host = "127.0.0.1" or the broker\'s name')
        if not 1 <= self.port <= 65535:
            raise OptionError("port", f"{self.port} is not a TCP port", "use 1-65535 (Mosquitto: 1883, TLS 8883)")
        if not 0 < self.keepalive <= MAX_KEEPALIVE:
            raise OptionError("keepalive", "must be longer than 0s and at most 18h", 'e.g. keepalive = "30s"')
        for key, forbidden in FORBIDDEN.items():
            found = [repr(c) for c in forbidden if c in getattr(self, key)]
            if found:
                raise OptionError(key, f"must not contain {' or '.join(found)}", f'e.g. {key} = "labmon"')
        if self.max_payload < 1024:
            raise OptionError("max_payload", "must be at least 1024 bytes", f"the default is {MAX_PAYLOAD}")
        if self.ca_file is not None:
            _check_ca_file(self.ca_file)


GROUP_LABELS = ("measurer", "instrument", "reading", "rule", "severity")
"""What `group_by` may name."""


@dataclass(frozen=True)
class NotifierPolicy:
    """Keys every notifier has, handled by labmon rather than the plugin."""

    send_resolved: bool = True
    max_per_hour: int = 60
    group_wait: Duration = Duration(0.0)
    """How long to gather alerts after the first before they go out as one message (0: those of one cycle)."""
    group_by: list[str] | None = None
    """Labels (measurer, instrument, reading, rule, severity) that split a notifier's alerts into groups (none: one)."""
    group_interval: Duration = Duration(0.0)
    """How long after a group was sent before it is sent again with what changed meanwhile (0: every cycle)."""
    attach_plot: bool = False
    """Attach a PNG of the series over the last hour, with its threshold, to a firing alert sent alone."""
    notices: bool = True
    """Send the collector's own "monitoring started/paused" notices (false for an on-call phone)."""

    def __post_init__(self) -> None:
        if self.max_per_hour < 1:
            raise OptionError("max_per_hour", "must be at least 1")
        if self.group_wait < 0:
            raise OptionError("group_wait", "must not be negative", 'e.g. group_wait = "30s"')
        if self.group_interval < 0:
            raise OptionError("group_interval", "must not be negative", 'e.g. group_interval = "5m"')
        for label in self.group_by or []:
            if label not in GROUP_LABELS:
                raise OptionError("group_by", f"{label!r} is not a label", f"use {', '.join(GROUP_LABELS)}")


@dataclass(frozen=True)
class InstrumentPolicy:
    """Keys every instrument has, handled by labmon rather than the plugin."""

    timeout: Duration = Duration(10.0)

    def __post_init__(self) -> None:
        check_spans(self, timeout="10s")


@dataclass(frozen=True)
class SinkPolicy:
    """Keys every sink has (none yet)."""


POLICIES: dict[Kind, type[Any]] = {"instrument": InstrumentPolicy, "sink": SinkPolicy, "notifier": NotifierPolicy}


@dataclass(frozen=True)
class PluginEntry:
    """A configured instrument, sink or notifier: the user's name for it, its type and options."""

    name: str
    type_name: str
    cls: type[Any]
    config: Any
    timeout: float = 10.0
    policy: NotifierPolicy = NotifierPolicy()


@dataclass(frozen=True)
class _MeasurerTable:
    name: str
    instruments: dict[str, Any] = field(default_factory=dict)
    min_inquiry_interval: Duration = Duration(0.5)


@dataclass(frozen=True)
class MeasurerConfig:
    """A measurer node: its name, its instruments, and how often inquiries may make it read them."""

    name: str
    instruments: tuple[PluginEntry, ...]
    min_inquiry_interval: float = 0.5


@dataclass(frozen=True)
class MeasurerRef:
    """A measurer the collector polls, and the broker it listens on."""

    name: str
    broker: BrokerConfig


@dataclass(frozen=True)
class DeliveryConfig:
    """How the outbox feeds sinks and notifiers."""

    outbox_limit: int = 100_000
    retry_initial: Duration = Duration(1.0)
    retry_max: Duration = Duration(300.0)

    def __post_init__(self) -> None:
        if self.outbox_limit < 1:
            raise ValueError("outbox_limit must be at least 1")
        if not 0 < self.retry_initial <= self.retry_max:
            raise ValueError("retry_initial must be longer than 0s and not longer than retry_max")


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class WebConfig:
    """The collector's status page: where it listens and who may use it."""

    listen: str = "127.0.0.1:8080"
    password: Secret | None = None
    public: bool = False

    def __post_init__(self) -> None:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise OptionError("listen", f"{self.listen!r} is not host:port", 'e.g. listen = "127.0.0.1:8080"')
        if host not in LOOPBACK and self.password is None and not self.public:
            raise OptionError(
                "listen",
                f"{host} is reachable from other machines and the page has no password",
                'set password_file = "..." (or password = "${ENV}"), or public = true for a read-only page',
            )


@dataclass(frozen=True)
class HeartbeatConfig:
    """A push monitor pinged after every cycle: `url` on success, `url`/fail after a cycle with errors."""

    url: Secret
    timeout: Duration = Duration(10.0)

    def __post_init__(self) -> None:
        check_spans(self, timeout="10s")
        parts = urlsplit(self.url)
        if not self.url.unset and (parts.scheme.lower() not in ("http", "https") or not parts.netloc):
            # never the URL itself in the error: it is a secret
            raise OptionError("url", "is not an http(s) URL", "set it to the monitor's ping URL, https://...")


@dataclass(frozen=True)
class DigestConfig:
    """The weekly digest of lock health: when it goes out (a weekday and time in `timezone`) and to whom."""

    schedule: str = "mon 09:00"
    timezone: str | None = None
    """An IANA name such as "Europe/Berlin"; the machine's own zone if unset."""
    notifiers: list[str] | None = None
    """The notifiers it goes to, by name; all of them if unset."""

    def __post_init__(self) -> None:
        parts = self.schedule.split()
        if len(parts) != 2 or parts[0] not in DAYS:
            raise OptionError(
                "schedule", f"{self.schedule!r} is not a weekday and a time", 'e.g. schedule = "mon 09:00"'
            )
        minute_of_day("schedule", parts[1])
        self.zone()

    def zone(self) -> tzinfo:
        """Return the time zone of the schedule and of the digest's days."""
        if self.timezone is None:
            local = datetime.now().astimezone().tzinfo
            assert local is not None
            return local
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise OptionError(
                "timezone", f"{self.timezone!r} is not a time zone", 'e.g. timezone = "Europe/Berlin"'
            ) from None

    def next_after(self, t: float) -> float:
        """Return the first scheduled time after Unix time `t` (wall-clock time: 09:00 stays 09:00 across DST)."""
        day, clock = self.schedule.split()
        minute = minute_of_day("schedule", clock)
        zone = self.zone()
        local = datetime.fromtimestamp(t, zone).replace(tzinfo=None)
        ahead = (DAYS.index(day) - local.weekday()) % 7
        when = local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0) + timedelta(days=ahead)
        while when.replace(tzinfo=zone).timestamp() <= t:
            when += timedelta(days=7)
        return when.replace(tzinfo=zone).timestamp()


@dataclass(frozen=True)
class FailoverConfig:
    """A collector of a pair: its name and every collector's, most preferred first."""

    node: str
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not NAME.match(self.node):
            raise OptionError("node", f"{self.node!r} is not a valid name", NAME_FIX)
        if self.node not in self.order or len(set(self.order)) < 2 or len(set(self.order)) != len(self.order):
            raise OptionError(
                "order",
                "must name this node and at least one other collector, each once, most preferred first",
                f'e.g. order = ["{self.node}", "collector-b"]',
            )


Inquire = Literal["each", "all"]
"""How the collector asks: one inquiry per measurer on its own topic, or one per broker for all of them."""


@dataclass(frozen=True)
class _CollectorTable:
    interval: Duration = Duration(60.0)
    reply_timeout: Duration = Duration(10.0)
    data_dir: Path = Path("labmon-data")
    inquire: Inquire = "each"
    min_free: ByteSize = ByteSize(200_000_000)  # noqa: RUF009 (a NewType: the int itself)


@dataclass(frozen=True)
class CollectorConfig:
    """A collector node: cadence, measurers, sinks, notifiers and rules."""

    interval: float
    reply_timeout: float
    data_dir: Path
    delivery: DeliveryConfig
    measurers: tuple[MeasurerRef, ...]
    sinks: tuple[PluginEntry, ...]
    notifiers: tuple[PluginEntry, ...]
    rules: tuple[RuleConfig, ...]
    web: WebConfig | None = None
    heartbeat: HeartbeatConfig | None = None
    mute_windows: tuple[MuteWindow, ...] = ()
    inquire: Inquire = "each"
    min_free: int = 200_000_000
    """Free bytes on the data disk below which the built-in `disk` alert warns."""
    digest: DigestConfig | None = None
    failover: FailoverConfig | None = None


@dataclass(frozen=True)
class Config:
    """A whole node config."""

    path: Path
    broker: BrokerConfig
    measurer: MeasurerConfig | None = None
    collector: CollectorConfig | None = None


def load_config(path: str | Path, registry: Registry, *, secrets: bool = True) -> Config:
    """Read and validate `path`; raise ConfigError listing every mistake found.

    `secrets=False` is for commands that use none: a secret that cannot be read is then an UnsetSecret.
    """
    path = Path(path)
    where = Where(path, secrets=secrets)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [Problem(path, "", "", "file not found", "create one with: labmon init measurer|collector")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(path, "", "", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(path, "", "", f"not valid TOML: {exc}")]) from None
    return parse_config(data, where, registry)


def parse_config(data: dict[str, Any], where: Where, registry: Registry) -> Config:
    """Validate already-parsed TOML `data` read from `where.path`."""
    for key in data:
        if key not in ("broker", "measurer", "collector"):
            where.report(key, "unknown table", "a node config has [broker], [measurer] and [collector] tables")
    if "measurer" not in data and "collector" not in data:
        where.report(
            "", "neither [measurer] nor [collector] is configured", "create one with: labmon init measurer|collector"
        )
    broker = build(BrokerConfig, data.get("broker", {}), where.child("broker"))
    measurer = _measurer(data["measurer"], where.child("measurer"), registry) if "measurer" in data else None
    raw_broker = data.get("broker", {}) if isinstance(data.get("broker"), dict) else {}
    collector = (
        _collector(data["collector"], where.child("collector"), registry, (raw_broker, broker or BrokerConfig()))
        if "collector" in data
        else None
    )
    where.raise_if_any()
    assert broker is not None
    return Config(where.path, broker, measurer, collector)


def _measurer(table: Any, where: Where, registry: Registry) -> MeasurerConfig | None:
    raw = build(_MeasurerTable, table, where)
    if raw is None:
        return None
    _check_name(raw.name, where, "name")
    if not raw.instruments:
        where.report(
            "instruments",
            "no instruments configured",
            'add a table such as [measurer.instruments.laser1] with type = "sim"',
        )
    instruments = _plugin_entries("instrument", raw.instruments, where.child("instruments"), registry)
    return MeasurerConfig(raw.name, instruments, raw.min_inquiry_interval)


def _collector(
    table: Any, where: Where, registry: Registry, broker: tuple[dict[str, Any], BrokerConfig]
) -> CollectorConfig | None:
    if not isinstance(table, dict):
        where.report("", "expected a table")
        return None
    nested = (
        "measurers",
        "sinks",
        "notifiers",
        "rules",
        "delivery",
        "web",
        "heartbeat",
        "mute_windows",
        "digest",
        "failover",
    )
    raw = build(_CollectorTable, table, where, ignore=nested)
    delivery = build(DeliveryConfig, table.get("delivery", {}), where.child("delivery"))
    heartbeat = build(HeartbeatConfig, table["heartbeat"], where.child("heartbeat")) if "heartbeat" in table else None
    failover = build(FailoverConfig, table["failover"], where.child("failover")) if "failover" in table else None
    measurers = _measurer_refs(table.get("measurers"), where, broker)
    sinks = _plugin_entries("sink", table.get("sinks", {}), where.child("sinks"), registry)
    notifiers = _plugin_entries("notifier", table.get("notifiers", {}), where.child("notifiers"), registry)
    # The table keys, not the entries built: a notifier with a mistake of its own is still configured.
    notifier_names = set(table["notifiers"]) if isinstance(table.get("notifiers"), dict) else set()
    rules = _rules(table.get("rules", []), where, {m.name for m in measurers}, notifier_names)
    _check_disk_rules(rules, where, failover.node if failover is not None else ALONE)
    web = build(WebConfig, table["web"], where.child("web")) if "web" in table else None
    mute_windows = _mute_windows(table.get("mute_windows", []), where)
    digest = build(DigestConfig, table["digest"], where.child("digest")) if "digest" in table else None
    for name in (digest.notifiers or []) if digest is not None else []:
        if name not in notifier_names:
            where.child("digest").report(
                "notifiers", f"no notifier named {name!r}", "name a [collector.notifiers.NAME]"
            )
    if (
        raw is None
        or delivery is None
        or ("web" in table and web is None)
        or ("heartbeat" in table and heartbeat is None)
        or ("digest" in table and digest is None)
        or ("failover" in table and failover is None)
    ):
        return None
    if raw.interval <= 0:
        where.report("interval", "must be longer than 0s")
    if raw.reply_timeout <= 0:
        where.report("reply_timeout", "must be longer than 0s")
    if raw.reply_timeout >= raw.interval:
        where.report("reply_timeout", "must be shorter than interval", "lower reply_timeout or raise interval")
    _check_writable(raw.data_dir, where)
    if rules and not notifier_names:
        where.report(
            "rules", "rules are configured but no notifier", "add a [collector.notifiers.NAME] table to hear alerts"
        )
    if any(rule.forecast is not None for rule in rules) and not any(e.type_name == "sqlite" for e in sinks):
        where.report(
            "rules",
            "a forecast rule fits the history, but no sqlite sink keeps one",
            'add [collector.sinks.history] type = "sqlite"',
        )
    return CollectorConfig(
        raw.interval,
        raw.reply_timeout,
        raw.data_dir,
        delivery,
        measurers,
        sinks,
        notifiers,
        rules,
        web,
        heartbeat,
        mute_windows,
        raw.inquire,
        raw.min_free,
        digest,
        failover,
    )


def _mute_windows(raw: Any, where: Where) -> tuple[MuteWindow, ...]:
    if not isinstance(raw, list):
        where.report("mute_windows", "expected an array of tables", "write each window as [[collector.mute_windows]]")
        return ()
    built = [build(MuteWindow, table, where.child(f"mute_windows[{i}]")) for i, table in enumerate(raw)]
    return tuple(window for window in built if window is not None)


def _measurer_refs(raw: Any, where: Where, broker: tuple[dict[str, Any], BrokerConfig]) -> tuple[MeasurerRef, ...]:
    if raw is None:
        where.report(
            "measurers", "no measurers to poll", 'add measurers = ["table1"] or a [collector.measurers.table1] table'
        )
        return ()
    if isinstance(raw, list):
        if not all(isinstance(name, str) for name in raw):
            where.report("measurers", "expected a list of measurer names")
            return ()
        for name in {n for n in raw if raw.count(n) > 1}:
            where.report("measurers", f"measurer {name!r} is listed twice", "list each measurer once")
        raw = {name: {} for name in raw}
    if not isinstance(raw, dict):
        where.report("measurers", "expected a list of names or a table of measurers")
        return ()
    if not raw:
        where.report("measurers", "no measurers to poll", 'name them: measurers = ["table1"]')
    refs = []
    for name, table in raw.items():
        sub = where.child(f"measurers.{name}")
        _check_name(name, sub, "")
        if not isinstance(table, dict) or set(table) - {"broker"}:
            sub.report(
                "",
                "a measurer table may only hold a [broker] sub-table",
                "leave it empty to use the collector's broker",
            )
            continue
        raw_base, base = broker
        own = _merged_broker(raw_base, table["broker"], sub.child("broker")) if "broker" in table else base
        if own is not None:
            refs.append(MeasurerRef(name, own))
    return tuple(refs)


def _merged_broker(base: dict[str, Any], table: Any, where: Where) -> BrokerConfig | None:
    """Build the broker of a measurer that runs its own: the collector's [broker] keys overridden by `table`."""
    if not isinstance(table, dict):
        where.report("", "expected a table")
        return None
    merged = dict(base)
    for key in table:
        plain = key.removesuffix("_file")
        merged.pop(plain, None)
        merged.pop(f"{plain}_file", None)
    return build(BrokerConfig, merged | table, where)


def _plugin_entries(kind: Kind, tables: Any, where: Where, registry: Registry) -> tuple[PluginEntry, ...]:
    if not isinstance(tables, dict):
        where.report("", f"expected a table of named {kind}s")
        return ()
    entries = (plugin_entry(kind, name, table, where.child(name), registry) for name, table in tables.items())
    return tuple(entry for entry in entries if entry is not None)


def plugin_entry(kind: Kind, name: str, table: Any, where: Where, registry: Registry) -> PluginEntry | None:
    """Validate one configured instrument, sink or notifier table at `where`; None (and problems) if it is wrong."""
    _check_name(name, where, "")
    if not isinstance(table, dict):
        where.report("", f"expected a table, found {table!r}")
        return None
    type_name = table.get("type")
    available = ", ".join(registry.names(kind)) or "none"
    if not isinstance(type_name, str):
        where.report("type", f"missing {kind} type", f"set type to one of the installed {kind}s: {available}")
        return None
    provided = registry.get(kind, type_name)
    if provided is None:
        package = KNOWN_TYPES.get((kind, type_name))
        where.report(
            "type",
            f"no installed plugin provides {kind} type {type_name!r}",
            f"install {package} (pip install {package})"
            if package
            else f"installed {kind}s: {available} (see: labmon plugins)",
        )
        return None
    own = tuple(f.name for f in fields(POLICIES[kind]))
    policy = build(POLICIES[kind], {k: v for k, v in table.items() if k in own}, where)
    options = build(provided.cls.Config, table, where, ignore=("type", *own))
    if options is None or policy is None:
        return None
    if isinstance(policy, InstrumentPolicy):
        return PluginEntry(name, type_name, provided.cls, options, timeout=policy.timeout)
    if isinstance(policy, NotifierPolicy):
        return PluginEntry(name, type_name, provided.cls, options, policy=policy)
    return PluginEntry(name, type_name, provided.cls, options)


def _rules(raw: Any, where: Where, measurers: set[str], notifiers: set[str]) -> tuple[RuleConfig, ...]:
    if not isinstance(raw, list):
        where.report("rules", "expected an array of tables", "write each rule as [[collector.rules]]")
        return ()
    rules, seen, places = [], set(), {}
    for i, table in enumerate(raw):
        name = table.get("name") if isinstance(table, dict) else None
        name = name if isinstance(name, str) else None
        sub = where.child(f"rules[{i}] ({name})" if name is not None else f"rules[{i}]")
        if name is not None and name in seen:
            sub.report("name", f"duplicate rule name {name!r}", "give each rule its own name")
        seen.add(name)
        rule = build(RuleConfig, table, sub)
        if rule is None:
            continue
        measurer = rule.select.split("/")[0]
        if (
            measurers
            and not (rule.broker or rule.disk)
            and not any(fnmatch.fnmatchcase(m, measurer) for m in measurers)
        ):
            sub.report(
                "select",
                f"{measurer!r} matches no measurer in [collector.measurers]",
                f"polled measurers: {', '.join(sorted(measurers))}",
            )
        for key, name in [("notify", n) for n in rule.notify or []] + [
            ("escalate_to", n) for n in rule.escalate_to or []
        ]:
            if name not in notifiers:
                sub.report(
                    key,
                    f"no notifier named {name!r}",
                    f"configured notifiers: {', '.join(sorted(notifiers)) or 'none'}",
                )
        rules.append(rule)
        places[rule.name] = sub
    _check_dependencies(tuple(rules), places, measurers)
    return tuple(rules)


def _check_disk_rules(rules: tuple[RuleConfig, ...], where: Where, node: str) -> None:
    """Report disk rules none of which selects this collector: they replace the built-in one, and its full disk
    would then go untold."""
    disk = [rule for rule in rules if rule.disk]
    if disk and not any(selector_covers(rule.select, node) for rule in disk):
        selects = ", ".join(repr(rule.select) for rule in disk)
        where.report(
            "rules",
            f"no disk rule selects this collector ({node!r}; they select {selects}): its data disk would go unwatched",
            f'select = "{node}" or "*" (a collector without [collector.failover] is "{ALONE}")',
        )


def _check_dependencies(rules: tuple[RuleConfig, ...], places: dict[str, Where], measurers: set[str]) -> None:
    """Report `depends_on` entries naming no rule or polled measurer, and rules depending on each other in a circle."""
    names = {rule.name for rule in rules}
    for rule in rules:
        for dependency in rule.depends_on or []:
            measurer = dependency.removeprefix(MEASURER_DEPENDENCY)
            if measurer != dependency and measurers and not any(fnmatch.fnmatchcase(m, measurer) for m in measurers):
                places[rule.name].report(
                    "depends_on", f"{measurer!r} matches no measurer in [collector.measurers]", DEPENDS_FIX
                )
            elif measurer == dependency and dependency not in names:
                places[rule.name].report(
                    "depends_on", f"no rule named {dependency!r}", f"rules: {', '.join(sorted(names))}; {DEPENDS_FIX}"
                )
    for name in dependency_order(rules)[1]:
        places[name].report("depends_on", "rules depend on each other in a circle", "remove one of the dependencies")


def check_file(key: str, path: Path) -> None:
    """Raise OptionError unless a file can be created or appended to at `path` (a sink's output file)."""
    if path.is_dir():
        raise OptionError(key, f"{path} is a directory", "name a file, e.g. a path inside that directory")
    problem = _unwritable(path.parent)
    if problem:
        raise OptionError(key, problem, "choose a place this user can write to")


def _check_writable(data_dir: Path, where: Where) -> None:
    problem = _unwritable(data_dir)
    if problem:
        where.report("data_dir", problem, "choose a directory this user can write to")


def _unwritable(directory: Path) -> str | None:
    """Return why files cannot be made in `directory` (created if missing), or None."""
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    try:  # os.access says yes to root everywhere, /proc and read-only mounts included: try it
        os.rmdir(tempfile.mkdtemp(prefix=".labmon-check-", dir=existing))
    except OSError as exc:
        return f"cannot create anything in {existing}: {exc.strerror}"
    return None


def _check_ca_file(path: Path) -> None:
    import ssl

    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except FileNotFoundError:
        raise OptionError("ca_file", f"{path} does not exist", "point it at the CA certificate (PEM)") from None
    except OSError as exc:  # ssl.SSLError is one: the file holds no certificate
        reason = exc.strerror or getattr(exc, "reason", None) or exc
        raise OptionError(
            "ca_file", f"{path} is not a readable CA certificate ({reason})", "point it at a PEM certificate"
        ) from None


def _check_name(name: str, where: Where, key: str) -> None:
    if not NAME.match(name):
        where.report(key, f"{name!r} is not a valid name", NAME_FIX)
