"""Poll every measurer each interval, store the batch, evaluate the rules, send the alerts."""

from __future__ import annotations

import itertools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labmon.badinput import BadInput, Throttle, shown
from labmon.config import BrokerConfig, Config, MeasurerRef, PluginEntry
from labmon.messages import MessageError, Topics, collector_sender, decode_result, decode_status, encode_inquiry
from labmon.models import Alert, Batch, Result
from labmon.mqtt import BrokerClient
from labmon.rule_config import ALONE
from labmon.times import format_duration
from labmon_collector import garbage
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.events import EventLog, Note
from labmon_collector.alerting.evidence import Evidence, take_plot
from labmon_collector.alerting.grouping import Grouper, deliver_group
from labmon_collector.alerting.routing import Router
from labmon_collector.alerting.rules import RulesEngine, with_builtin_rules
from labmon_collector.clocks import Clocks
from labmon_collector.cycle import Cycle
from labmon_collector.delivery.courier import Courier
from labmon_collector.delivery.heartbeat import Heartbeat
from labmon_collector.delivery.outbox import Outbox, Pending, in_memory_targets
from labmon_collector.delivery.patience import patient
from labmon_collector.delivery.repeat import said_again
from labmon_collector.disk import DiskHealth, refused
from labmon_collector.diskalarm import DiskAlarm
from labmon_collector.failover.pair import Pair
from labmon_collector.health.changes import Changes
from labmon_collector.health.forecast import Forecaster
from labmon_collector.health.held import Held, Routed
from labmon_collector.health.summaries import Summarizer
from labmon_collector.reach import Reach
from labmon_collector.web.metrics import Gauges
from labmon_collector.web.server import WebServer
from labmon_collector.web.view import history_path

if TYPE_CHECKING:
    from labmon_collector.health.digest import Scheduler

log = logging.getLogger(__name__)

INSTANCES = itertools.count()
"""Collectors made in this process: part of each one's MQTT client ids."""
EARLY_CHECK = 1.0
"""Seconds between looks, while waiting for the next tick, for a measurer that came online and should be asked."""
MAX_SLOW_WARNINGS = 1000
"""Instruments warned of as slow, at most: a flood of forged names must not flood the log."""


class PluginStartError(Exception):
    """A configured sink or notifier could not be created."""


@dataclass
class Counters:
    """Messages the collector received but could not use."""

    malformed: int = 0
    foreign: int = 0
    late: int = 0


class Collector:
    """The collector node: one broker client per distinct broker, one courier per sink and notifier."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time, announce: bool = True) -> None:
        assert config.collector is not None
        self.settings = config.collector
        self.clock = clock
        self.announce = announce
        """Tell the notifiers when monitoring starts and pauses (not for a one-off `--once` run)."""
        self.counters = Counters()
        self.bad_input = BadInput(log, "a malformed message")
        self._late = Throttle()
        self.status: dict[str, str] = {}
        self.disk = DiskHealth(self.settings.data_dir)
        """Which writes the data disk refuses: each is counted, kept and retried, the cycle goes on (issue 25)."""
        self.store = AlertStore(self.settings.data_dir / "alerts.sqlite", self.disk)
        rules = with_builtin_rules(self.settings.rules)
        self.rules = RulesEngine(
            rules, self.store, tick=self.settings.interval, mute_windows=self.settings.mute_windows
        )
        node = self.settings.failover.node if self.settings.failover else ALONE
        # the `disk` rule's eyes, and the alert store's room on a full disk
        self.rules.disk = DiskAlarm(self.disk, self.settings.min_free, node, self.store.reserve)
        self.router = Router(rules, {entry.name: entry.policy for entry in self.settings.notifiers}, self.store)
        self.heartbeat = Heartbeat(self.settings.heartbeat) if self.settings.heartbeat else None
        self.grouper = Grouper(
            {entry.name: entry.policy for entry in self.settings.notifiers}, tick=self.settings.interval
        )
        self._plots = {entry.name for entry in self.settings.notifiers if entry.policy.attach_plot}
        self.evidence = Evidence(history_path(self.settings))
        self.forecasts = self.rules.forecasts = Forecaster(history_path(self.settings), background=True)
        self.changes = Changes(history_path(self.settings))
        self.held = Held(self.changes, self._release)
        """A cycle's notifications until what changed before its new alerts is ranked (the cycle goes on)."""
        self._sending = threading.Lock()
        self.summaries = Summarizer(self.settings, clock)
        """Each watched series' health per closed window, written in a thread of its own (the report reads them)."""
        self.digest = self._digest_scheduler(clock)
        self._missing: set[str] = set()
        self._told: dict[str, str] = {}
        self._slow: set[tuple[str, str]] = set()
        """(measurer, instrument) already warned of as slower to read than reply_timeout."""
        """The status last logged per measurer."""
        self._cycle: Cycle | None = None
        self._started_at: float | None = None
        self._lock = threading.Lock()
        self.clients = self._clients(config.broker.client_id_prefix)
        self.sender = collector_sender(config.broker.client_id_prefix)
        """Whom the inquiries say they are from: measurers answer it before anyone else (a flood cannot starve it)."""
        failover = self.settings.failover
        self.pair = (
            Pair(
                failover,
                config.broker,
                self.settings.interval,
                config.broker.client_id_prefix,
                saved=self.store.facts(),
                keep=lambda record: self.store.later(failover_sent=record),  # with the next commit
            )
            if failover
            else None
        )
        """With a standby collector (issue 25): which of the two is active, and what the active notified."""
        self._local_sinks = {entry.name for entry in self.settings.sinks if entry.type_name == "sqlite"}
        """The sinks a standby writes too (its own history); the shared ones only the active writes."""
        self.reach = Reach(self.clients)
        self.clocks = Clocks()
        self._online_early: list[str] = []
        """Measurers that came online since the last cycle without having answered one: asked before the next tick."""
        self._early_at = -math.inf
        refs = self.settings.measurers
        self._names = [ref.name for ref in refs]
        asked: dict[BrokerClient, dict[str, None]] = {}
        for ref in refs:
            topics = self._topics(ref)
            asked.setdefault(self.clients[ref.broker], {})[
                topics.everyone if self.settings.inquire == "all" else topics.inquiries
            ] = None
        self._inquiry_topics = {client: list(topics) for client, topics in asked.items()}
        """The topics to ask on, per broker: one per measurer, or with `inquire = "all"` one per broker."""
        delivery = self.settings.delivery
        self.outbox = Outbox(
            self.settings.data_dir / "outbox.sqlite",
            max_items=delivery.outbox_limit,
            health=self.disk,
            in_memory=in_memory_targets(self.settings),
            reserve=self.store.reserve,  # a stop on the full disk writes what was delivered meanwhile
        )
        self.sinks = {e.name: _create(e, "sink") for e in self.settings.sinks}
        self.notifiers = {e.name: _create(e, "notifier") for e in self.settings.notifiers}
        targets = {f"sink:{name}": _sink_delivery(sink, name, self.disk) for name, sink in self.sinks.items()}
        targets |= {f"notifier:{name}": _notifier_delivery(notifier, name) for name, notifier in self.notifiers.items()}
        self.couriers = {
            target: Courier(
                self.outbox,
                target,
                deliver,
                retry_base=delivery.retry_initial,
                retry_cap=delivery.retry_max,
                mark=target.startswith("notifier:"),  # a notifier's repeat after a restart is said
            )
            for target, deliver in targets.items()
        }
        # issue 11: the alert history and the status page; /metrics for Prometheus on the same listener
        self.events = EventLog(self.settings.data_dir / "events.sqlite", self.disk)
        self.gauges = Gauges()
        self.gauges.resent = self.outbox.resent
        self.web = WebServer.for_collector(self) if self.settings.web is not None else None
        self._gc_before: tuple[int, int, int] | None = None

    def _clients(self, prefix: str) -> dict[BrokerConfig, BrokerClient]:
        clients: dict[BrokerConfig, BrokerClient] = {}
        instance = next(INSTANCES)  # two collectors in one process (tests, an embedding program) never share an id
        for ref in self.settings.measurers:
            if ref.broker not in clients:
                client_id = f"{prefix}-collector-{socket.gethostname()}-{os.getpid()}-{instance}-{len(clients)}"
                clients[ref.broker] = BrokerClient(ref.broker, client_id)
        return clients

    def start(self) -> None:
        """Subscribe to every measurer's results and status, connect, start delivering."""
        self._gc_before = garbage.relax()
        for ref in self.settings.measurers:
            topics = self._topics(ref)
            client = self.clients[ref.broker]
            client.subscribe(topics.results, self._on_result_for(ref.name))
            client.subscribe(topics.status, self._on_status_for(ref.name))
        for client in self.clients.values():
            client.start()
        for courier in self.couriers.values():
            courier.start()
        if self.web is not None:
            self.web.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        self.summaries.start()
        now = self._started_at = time.time()
        self.store.note(started_at=now, stopped_at=None, last_cycle_at=None, interval=self.settings.interval)
        names = [ref.name for ref in self.settings.measurers]
        # A message a person reads: a large lab is named by its count, not by a thousand names.
        polled = ", ".join(names) if len(names) <= 8 else f"{len(names)} measurers ({', '.join(names[:3])}, ...)"
        if self.pair is not None:
            self.pair.start()
        self._announce(f"monitoring started: polling {polled} every {format_duration(self.settings.interval)}")

    def stop(self, grace: float = 5.0) -> None:
        """Let deliveries drain for up to `grace` seconds, then disconnect and close; the rest stays in the outbox."""
        firing = sum(state.state == "firing" for state in self.rules.states.values())
        self.held.close()
        self._send_groups(time.time(), everything=True)  # a group still gathering goes now
        self._announce(f"monitoring paused: the collector stopped; {firing} alerts were firing")
        if self.pair is not None:
            self.pair.stop()  # the other hears it go and takes over within a tenth of an interval
        if self.web is not None:
            self.web.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        for courier in self.couriers.values():
            courier.stop(grace)
        for client in self.clients.values():
            client.stop()
        for plugin in [*self.sinks.values(), *self.notifiers.values()]:
            try:
                plugin.close()
            except Exception:
                log.exception("closing %r failed", plugin)
        self.outbox.close()
        self.evidence.close()
        self.forecasts.close()
        self.changes.close()
        self.summaries.close()
        self.store.note(stopped_at=time.time(), resent=self.outbox.resent)  # the page says the resends
        self.store.close()
        self.events.close()
        if self._gc_before is not None:
            garbage.restore(self._gc_before)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until every broker is connected, or `timeout` seconds; return whether all are."""
        deadline = time.monotonic() + timeout
        return all(c.connected.wait(max(0.0, deadline - time.monotonic())) for c in self.clients.values())

    def run(self, *, cycles: int | None = None, stop: threading.Event | None = None) -> Batch | None:
        """Run cycles on a fixed grid of ticks until `stop` is set or `cycles` have run; return the last batch."""
        stop = stop or threading.Event()
        if not self.wait_connected(self.settings.reply_timeout):
            log.warning("not every broker is reachable yet; polling anyway (the silent measurers will be missing)")
        origin, interval, number = time.monotonic(), self.settings.interval, 0
        last = None
        while not stop.is_set():
            number += 1
            last = self.run_cycle(number)
            if cycles is not None and number >= cycles:
                break
            ticks = math.floor((time.monotonic() - origin) / interval) + 1  # a slow cycle skips ticks, never drifts
            if self._until(origin + ticks * interval, stop):
                origin = time.monotonic()  # the next cycle now, for a measurer that came online; the grid from it
        return last

    def _until(self, tick: float, stop: threading.Event) -> bool:
        """Wait for the tick or `stop`; return True early, once per interval, when a measurer that missed the
        last cycle comes online: the whole lab is then asked at once rather than a whole interval later."""
        early_allowed = time.monotonic() - self._early_at >= self.settings.interval
        check = EARLY_CHECK if self.pair is None else min(EARLY_CHECK, self.pair.check)
        while not stop.wait(min(check, max(0.0, tick - time.monotonic()))) and time.monotonic() < tick:
            if self.pair is not None and self.pair.due():  # a takeover (or a step down) starts a cycle now
                return True
            with self._lock:
                early, self._online_early = self._online_early, []
            if early and early_allowed:
                log.info("asking now: %s came online since the last cycle", ", ".join(early))
                self._early_at = time.monotonic()
                return True
        return False

    def run_cycle(self, number: int) -> Batch:
        """Ask every measurer at once, wait for the replies until the reply timeout, dispatch the batch."""
        started = time.monotonic()
        sender = self._take_role() if self.pair is not None else self.sender
        cycle = Cycle(number, self.clock(), self._names, sender)
        before = self.reach.snapshot()
        with self._lock:
            self._cycle = cycle
        inquiry = encode_inquiry(cycle.inquiry)
        cycle.sent_at = time.time()
        for client, topics in self._inquiry_topics.items():
            if client.connected.is_set():  # else no inquiry: queued ones would all arrive at once on reconnect
                client.publish_each(topics, inquiry)  # at QoS 0: see INQUIRY_QOS
        # The interpreter lock to paho's threads, which the inquiries woke to send them: the preparation below would
        # hold them up until its first query (at one measurer 2-3% of the cycle; at 100 no loss).
        time.sleep(0)
        self.rules.prepare(cycle.started_at)  # while the answers come
        cycle.wait(self.settings.reply_timeout)
        blind = self.reach.blind(before)
        # A broker's config hashes field by field: not looked up for each of a large lab's measurers when none is blind.
        cut_off = {ref.name for ref in self.settings.measurers if ref.broker in blind} if blind else set()
        with self._lock:
            self._cycle = None
            batch = cycle.batch(cut_off)
        took = time.monotonic() - started
        self._log_changes(number, batch)
        if log.isEnabledFor(logging.INFO):  # not worded each cycle for nobody
            answered = f"{len(batch.results)}/{len(cycle.measurers)} measurers answered in {took:.3f}s"
            unjudged = f"; {len(batch.disconnected)} not judged (broker out of reach)" if batch.disconnected else ""
            log.info("cycle %d: %s%s", number, answered, unjudged)
        self.dispatch(batch)
        self.gauges.record(batch, time.monotonic() - started, time.time())
        return batch

    def _log_changes(self, number: int, batch: Batch) -> None:
        """Log a measurer when it goes missing or changes status, and when it is back; not every cycle.

        Statuses of measurers on a broker this cycle could not judge are not logged: a broker shutting
        down publishes every Last Will, which says nothing about the measurers.
        """
        judged, unjudged = set(batch.missing), set(batch.disconnected)
        for measurer, status in list(self.status.items()):
            if measurer not in unjudged and self._told.get(measurer) != status:
                (log.warning if status != "online" else log.info)("measurer %s is %s", measurer, status)
                self._told[measurer] = status
        gone = [m for m in batch.missing if m not in self._missing]
        back = sorted(self._missing - judged - unjudged)
        if gone:
            log.warning("cycle %d: no reply from %s within %.1fs", number, ", ".join(gone), self.settings.reply_timeout)
        if back:
            log.info("cycle %d: %s answers again", number, ", ".join(back))
        self._missing = judged | (self._missing & unjudged)  # not judged: as missing as we last knew

    def dispatch(self, batch: Batch) -> None:
        """Queue the batch for every sink and the alerts it raises for their notifiers; record the cycle."""
        sinks = [name for name in self.sinks if self.active or name in self._local_sinks]
        if sinks:  # stored once for all sinks; their couriers get the batch itself, the text is for a restart
            self.outbox.put_all([f"sink:{name}" for name in sinks], batch.stored(), live=batch)
            for name in sinks:
                self.couriers[f"sink:{name}"].nudge()
        brokers = self.reach.down_since()
        before = {key: state.state for key, state in self.rules.states.items()}
        alerts = self._to_send(self.rules.evaluate(batch, batch.started_at, brokers))
        routed = [(alert, self.router.targets(alert)) for alert in alerts]
        self.held.add(batch.started_at, routed)
        self._send_groups(batch.started_at)
        self._send_digest(batch.started_at)
        self._hurry_sinks()
        told = [(alert, [name for name, _ in targets]) for alert, targets in routed]
        self.events.record(before, self.rules.states | self.rules.ended, told, batch.started_at, self.rules.notes)
        self.held.recorded()
        cut_off = {address: since for address, since in brokers.items() if since is not None}
        held = [[rule, series, why] for (rule, series), why in self.rules.held.items()]
        # One transaction per cycle for all of them (and the alert state's cycle time): only what changed is written.
        pair = {} if self.pair is None else {"failover": self.pair.facts()}
        # started_at and stopped_at again: a `labmon collector --once` run beside it noted its own start and stop,
        # which made status call this running collector stopped (written only when another writer changed them)
        self.store.note(
            last_cycle_at=time.time(), last_cycle=batch.cycle, disconnected=cut_off, held_back=held,
            clocks=self.clocks.shown(), resent=self.outbox.resent, started_at=self._started_at, stopped_at=None,
            **pair,
        )  # fmt: skip
        if self.heartbeat is not None:
            errors = sum(r.status == "error" for _, r, _ in batch.rows())
            summary = (
                f"cycle {batch.cycle}: {len(batch.results)} answered, {len(batch.missing)} missing,"
                f" {len(batch.disconnected)} not reachable, {errors} error readings"
            )
            self.heartbeat.ping(not (batch.missing or batch.disconnected or errors), summary)

    def _release(self, at: float, routed: Routed, notes: list[Note]) -> None:
        """Gather a cycle's notifications once what changed before its new alerts is ranked (or late) and queue
        those due; note the rankings in the alert history. From the cycle, the changes' worker or a timer."""
        for _, targets in routed:
            for name, message in targets:
                self.grouper.add(name, message, at)
        if notes:
            self.events.record({}, {}, [], at, notes)
        self._send_groups(at)
        if self.pair is not None:  # in the outbox now: the other need not send them if this one is killed
            self.pair.queued([alert for alert, _ in routed])

    def _send_groups(self, now: float, *, everything: bool = False) -> None:
        """Queue the gathered alerts whose group is ready, a plot attached where the notifier wants one."""
        with self._sending:  # the cycle and a held cycle's release, one at a time
            for name, payload in self.grouper.ready(now, everything=everything):
                if name in self._plots and payload.get("state") == "firing":
                    payload = self.evidence.attach(payload)
                self._enqueue(f"notifier:{name}", payload)

    def _hurry_sinks(self) -> None:
        """Retry now the sinks the disk refused, once it takes writes again (not after their backoff)."""
        failing = self.disk.failing()
        if "outbox" not in failing:
            for name in self.sinks:
                if f"{name} sink" in failing:
                    self.couriers[f"sink:{name}"].hurry()

    def _digest_scheduler(self, clock: Callable[[], float]) -> Scheduler | None:
        """Return the weekly digest's scheduler, if the config has a digest (its figures need numpy: loaded then)."""
        if self.settings.digest is None:
            return None  # the clock not read: a test's injected clock gives each cycle its time
        from labmon_collector.health.digest import Scheduler

        return Scheduler(self.settings, history_path(self.settings), self.store.facts().get("digest_sent"), clock())

    def _send_digest(self, now: float) -> None:
        """Queue the weekly digest for its notifiers once it is built (in a thread of its own: not in the cycle)."""
        if self.digest is None or not self.active:  # the standby's goes out if it takes over
            return
        for built in self.digest.tick(now):
            for name in self.digest.targets(list(self.notifiers)):
                self._enqueue(f"notifier:{name}", built.payload())
            self.store.note(digest_sent=built.alert.at)

    @property
    def active(self) -> bool:
        """Return whether this collector notifies and writes the shared sinks (always, without a standby)."""
        return self.pair is None or self.pair.role == "active"

    def _take_role(self) -> str:
        """Decide this cycle's role; on a takeover send what the active never said it notified; return the sender."""
        assert self.pair is not None
        was = self.pair.role
        role, owed = self.pair.step({key for key, st in self.rules.states.items() if st.state == "firing"})
        if (was, role) == ("standby", "active"):
            self._announce(f"collector {self.pair.node} took over as the active collector")
            now = time.time()
            sent = self.pair.to_send(owed)
            for alert in sent:
                for name, message in self.router.targets(alert):
                    self.grouper.add(name, message, now)
            self._send_groups(now)
            self.pair.queued(sent)
        self.gauges.role = (self.pair.node, role == "active")
        self.gauges.double_sent = self.pair.ledger.doubles
        # The measurers keep one inquiry per sender: the standby's must not displace the active's.
        return self.sender if role == "active" else f"{self.sender}-{self.pair.node}"

    def _to_send(self, alerts: list[Alert]) -> list[Alert]:
        """Return the alerts to send: all without a standby; the active's minus what the other notified; a
        standby's own disk alerts only."""
        if self.pair is None:
            return alerts
        # Each collector's disk is its own: told by it, active or standby, and kept out of the pair's ledger.
        own = [alert for alert in alerts if alert.labels.get("kind") == "disk"]
        shared = [alert for alert in alerts if alert.labels.get("kind") != "disk"]
        if self.pair.sends():
            return own + self.pair.to_send(shared + self._ended(shared))
        self.pair.shadow(shared)
        return own

    def _ended(self, alerts: list[Alert]) -> list[Alert]:
        """Resolve what the other notified firing (before a takeover, or while apart) and this engine, judging
        now, does not fire: every alert that fired can resolve."""
        assert self.pair is not None
        produced = {(alert.rule, alert.series) for alert in alerts}
        now, ended = time.time(), []
        for rule, series in sorted(self.pair.notified_firing() - produced):
            # Pending here: this engine is a cycle behind, and its firing will match the other's.
            if (rule, series) not in self.rules.states:
                text = f"{series}: {rule} no longer holds (as {self.pair.node} sees it)"
                ended.append(Alert(rule, "resolved", series, text, since=now, at=now))
        return ended

    def _announce(self, message: str) -> None:
        """Tell every notifier about the collector itself (started, paused)."""
        if not self.announce or not self.active:
            return
        now = time.time()
        alert = Alert("labmon-collector", "firing", "collector", message, severity="info", since=now, at=now)
        for entry in self.settings.notifiers:
            if entry.policy.notices:
                self._enqueue(f"notifier:{entry.name}", alert.to_dict())

    def _enqueue(self, target: str, payload: dict[str, Any]) -> None:
        self.outbox.put(target, payload)
        self.couriers[target].nudge()

    def _topics(self, ref: MeasurerRef) -> Topics:
        return Topics(ref.broker.topic_prefix, ref.name)

    def _on_result_for(self, measurer: str) -> Callable[[str, bytes], None]:
        limit = next(ref.broker.max_payload for ref in self.settings.measurers if ref.name == measurer)

        def on_result(topic: str, payload: bytes) -> None:
            try:
                result = decode_result(payload, limit)
            except MessageError as exc:
                self.counters.malformed += 1
                self.bad_input.report(topic, str(exc), payload)
                return
            if result.measurer != measurer:
                self.counters.foreign += 1
                self.bad_input.report(topic, f"a result from {result.measurer!r}, not {measurer!r}", payload)
                return
            self._warn_slow(result)
            arrived_at = time.time()
            with self._lock:
                cycle = self._cycle
                accepted = False
                if cycle is not None and cycle.answers(result):
                    cycle.keep(self.clocks.file(result, cycle.sent_at, arrived_at))
                    accepted = True
            if not accepted:
                self.counters.late += 1
                times = self._late.passes(measurer)  # a flood of forged answers must not flood the log
                if times is not None:
                    log.info(
                        "dropped %d late or duplicate replies from %s since the last report (latest: inquiry %s)",
                        times, measurer, shown(result.inquiry_id),
                    )  # fmt: skip

        return on_result

    def _warn_slow(self, result: Result) -> None:
        """Warn once per instrument whose read takes as long as the collector waits for a reply (or longer)."""
        wait = self.settings.reply_timeout
        for instrument, took in (result.read_seconds or {}).items():
            key = (result.measurer, instrument)
            if took >= wait and key not in self._slow and len(self._slow) < MAX_SLOW_WARNINGS:
                self._slow.add(key)
                log.warning(
                    "measurer %s: instrument %s takes %.1fs to read, the collector waits %gs (reply_timeout): its"
                    " replies come too late to be used; raise reply_timeout (below interval) or make the read"
                    " shorter (e.g. fewer traces)",
                    result.measurer, instrument, took, wait,
                )  # fmt: skip

    def _on_status_for(self, measurer: str) -> Callable[[str, bytes], None]:
        def on_status(topic: str, payload: bytes) -> None:
            try:
                status = decode_status(payload).decode()
            except MessageError as exc:
                self.counters.malformed += 1
                self.bad_input.report(topic, str(exc), payload)
                return
            if status == "online" and self.status.get(measurer) != "online" and measurer in self._missing:
                with self._lock:
                    self._online_early.append(measurer)
            self.status[measurer] = status  # logged at the cycle's end

        return on_status


def _create(entry: PluginEntry, kind: str) -> Any:
    try:
        return entry.cls(entry.config)
    except Exception as exc:
        raise PluginStartError(f"{kind} {entry.name!r} (type {entry.type_name}) could not start: {exc}") from exc


def _sink_delivery(sink: Any, name: str, disk: DiskHealth) -> Callable[[Pending], None]:
    def deliver(item: Pending) -> None:
        try:
            sink.write(item.live if isinstance(item.live, Batch) else Batch.from_dict(item.payload))
        except Exception as exc:
            if refused(exc):  # counted for the `disk` alert; the courier keeps the item and retries
                disk.refuse(f"{name} sink", exc)
            raise
        disk.stored(f"{name} sink")

    return patient(f"sink:{name}", sink, deliver)


def _notifier_delivery(notifier: Any, name: str) -> Callable[[Pending], None]:
    def deliver(item: Pending) -> None:
        payload = item.payload
        if "alerts" in payload:
            alerts = [Alert.from_dict(a) for a in payload["alerts"]]
            deliver_group(notifier, [said_again(a) for a in alerts] if item.repeat else alerts)
            return
        fields, png = take_plot(payload)
        alert = said_again(Alert.from_dict(fields)) if item.repeat else Alert.from_dict(fields)
        with_plot = getattr(notifier, "notify_with_plot", None)
        if png is not None and with_plot is not None:
            with_plot(alert, png)
        else:
            notifier.notify(alert)

    return patient(f"notifier:{name}", notifier, deliver)
