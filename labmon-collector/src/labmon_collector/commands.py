"""The collector's subcommands: collector, status, silence, outbox, notify-test (heavy imports inside each)."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.config import CollectorConfig
from labmon.models import Alert
from labmon.rule_config import SELECTOR_FIX, selector_problem
from labmon.times import format_duration, iso, parse_duration
from labmon_collector.alerting.events import recent_lines
from labmon_collector.bridge import bridge_config
from labmon_collector.disk import Refused, free_bytes, said_if_refused
from labmon_collector.health.command import report

if TYPE_CHECKING:
    from labmon_collector.alerting.alertstore import AlertStore
    from labmon_collector.delivery.outbox import Outbox


def _full_at_start(settings: CollectorConfig | None, exc: BaseException) -> click.ClickException | None:
    """Return the error to say for `exc`, raised opening the collector's files, if their disk is full (else None)."""
    from labmon_collector.reserve import OPEN

    free = None if settings is None else free_bytes(settings.data_dir)
    if settings is None or free is None or free >= OPEN:
        return None
    return click.ClickException(
        f"cannot open the collector's files in {settings.data_dir}: its disk is full ({free} bytes free: {exc}). Free"
        f" space on it (a collector that has run there keeps a reserve of space for this: there was none yet)"
    )


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, help="Run one cycle; exit 1 if any measurer did not answer or was not asked.")
@click.option("--cycles", type=click.IntRange(min=1), default=None, help="Stop after N cycles.")
def collector(config: str, once: bool, cycles: int | None) -> None:
    """Poll CONFIG's measurers every interval, store their readings and raise alerts."""
    from labmon_collector.service import Collector, PluginStartError  # paho and the engines: not for --help

    node = load_node_config(config, "collector")
    try:
        service = Collector(node, announce=not once)
    except PluginStartError as exc:
        raise click.ClickException(str(exc)) from None
    except (sqlite3.Error, OSError) as exc:
        said = _full_at_start(node.collector, exc)
        if said is None:
            raise
        raise said from None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service.start()
    try:
        last = service.run(cycles=1 if once else cycles, stop=stopping)
    except KeyboardInterrupt:
        last = None
    finally:
        service.stop()
    if once and last is not None and (last.missing or last.disconnected):
        problems = [f"no reply from {', '.join(last.missing)}"] if last.missing else []
        if last.disconnected:
            problems.append(f"not asked (their broker is unreachable): {', '.join(last.disconnected)}")
        raise click.ClickException("; ".join(problems))


class Unknown(click.ClickException):
    """A status that could not be found out: exit 3, as monitoring plugins say UNKNOWN."""

    exit_code = 3


@click.command()
@click.argument("config", envvar="LABMON_CONFIG", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def status(config: str | None, as_json: bool) -> None:
    """Is the collector running; delivery backlogs and dead letters; pending and firing alerts; silences.

    Exit 0 when all is well, 1 on a warning (pending or non-critical alerts, a paused target, dead letters,
    an unreachable broker), 2 when a critical alert fires or the collector is not running, 3 (unknown) when
    the config cannot be read: the monitoring-plugin convention, so a checker never takes a typo for an alert.
    """
    from labmon_collector.report import build_report, render

    try:
        if config is None:
            raise click.ClickException("no config: name the collector config, or set LABMON_CONFIG")
        settings = _settings(config)
    except click.ClickException as exc:
        raise Unknown(exc.message) from None
    if not (settings.data_dir / "outbox.sqlite").exists():
        text = f"NOT RUNNING: it has never run with this config (no outbox in {settings.data_dir})"
        click.echo(json.dumps({"collector": {"running": False, "text": text}, "exit": 2}) if as_json else text)
        sys.exit(2)
    report = build_report(settings, time.time())
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("\n".join([*render(report), *recent_lines(settings.data_dir)]))  # and the alert history
    sys.exit(report["exit"])


def _alert_store(config: str) -> AlertStore:
    from labmon_collector.alerting.alertstore import AlertStore

    return AlertStore(_settings(config).data_dir / "alerts.sqlite")


def _full(config: str) -> str:
    """Return what to add to "no firing alert" when the data disk is too full to hold the collector's alerts."""
    from labmon_collector.report import NEARLY_FULL

    free = free_bytes(_settings(config).data_dir)
    if free is None or free >= NEARLY_FULL:
        return ""
    return (
        f" in the alert file, but the data disk has {free} bytes free: the running collector holds its alerts in"
        " memory; acknowledge from the status page, or free space"
    )


def _settings(config: str) -> CollectorConfig:
    collector = load_node_config(config, "collector", secrets=False).collector  # status, ack...: no secret needed
    assert collector is not None
    return collector


@click.group()
def silence() -> None:
    """Keep matching alerts from notifying for a while (they still show in `labmon status`)."""


CONFIG_OPTION = click.option(
    "-c", "--config", envvar="LABMON_CONFIG", required=True, type=click.Path(dir_okay=False),
    help="The collector config (or set LABMON_CONFIG).",
)  # fmt: skip


@silence.command("add")
@CONFIG_OPTION
@click.argument("selector")
@click.option("--for", "duration", required=True, help='How long, e.g. "2h".')
@click.option("--comment", default="", help="Why, for whoever reads `labmon status`.")
def silence_add(config: str, selector: str, duration: str, comment: str) -> None:
    """Silence alerts whose series match SELECTOR (measurer/instrument/reading, * wildcards)."""
    problem = selector_problem(selector)
    if problem:
        raise click.BadParameter(f"{problem} ({SELECTOR_FIX})", param_hint="SELECTOR")
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    store = _alert_store(config)
    now = time.time()
    try:
        with said_if_refused("the silence"):
            silence_id = store.add_silence(selector, now, now + seconds, comment)
    except Refused as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"silence #{silence_id}: {selector} for {format_duration(seconds)}")


@silence.command("list")
@CONFIG_OPTION
def silence_list(config: str) -> None:
    """List the silences in force."""
    from labmon_collector.report import silence_lines

    store = _alert_store(config)
    now = time.time()
    silences = [{"id": s.id, "selector": s.selector, "ends": s.ends, "comment": s.comment} for s in store.silences(now)]
    store.close()
    click.echo("\n".join(silence_lines(silences, now)))


@silence.command("remove")
@CONFIG_OPTION
@click.argument("silence_id", type=int)
def silence_remove(config: str, silence_id: int) -> None:
    """End silence SILENCE_ID now."""
    store = _alert_store(config)
    removed = store.remove_silence(silence_id)
    store.close()
    if not removed:
        raise click.ClickException(f"no silence #{silence_id}")
    click.echo(f"silence #{silence_id} removed")


@click.command("ack")
@CONFIG_OPTION
@click.argument("selector")
@click.option("--comment", default="", help='Why, e.g. "relocking": the notifiers say it.')
@click.option("--by", default=None, help="Who acknowledges (default: your user name).")
def ack(config: str, selector: str, comment: str, by: str | None) -> None:
    """Acknowledge the firing alerts whose series match SELECTOR: they stop repeating until they resolve."""
    import getpass

    problem = selector_problem(selector)
    if problem:
        raise click.BadParameter(f"{problem} ({SELECTOR_FIX})", param_hint="SELECTOR")
    store = _alert_store(config)
    try:
        with said_if_refused("the ack"):
            acks = store.acknowledge(selector, by or getpass.getuser(), comment, time.time())
    except Refused as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if not acks:
        raise click.ClickException(f"no firing alert that is not acknowledged yet matches {selector}{_full(config)}")
    for a in acks:
        click.echo(f"acknowledged {a.rule} on {a.series}")


@click.command("notify-test")
@click.argument("config", type=click.Path(dir_okay=False))
def notify_test(config: str) -> None:
    """Send a test alert through every notifier of CONFIG now (not through the outbox); exit 1 if any fails."""
    node = load_node_config(config, "collector")
    assert node.collector is not None
    if not node.collector.notifiers:
        raise click.ClickException(f"{config} configures no notifiers")
    now = time.time()
    alert = Alert(
        rule="labmon-test",
        state="firing",
        series="test/notifier/check",
        message="labmon test notification: if you can read this, alerts reach you",
        severity="info",
        since=now,
        at=now,
    )
    failed = []
    for entry in node.collector.notifiers:
        try:
            notifier = entry.cls(entry.config)
            notifier.notify(alert)
            notifier.close()
        except Exception as exc:
            failed.append(entry.name)
            click.echo(f"{entry.name} ({entry.type_name}): FAILED: {exc}", err=True)
        else:
            click.echo(f"{entry.name} ({entry.type_name}): sent")
    if failed:
        raise click.ClickException(f"could not notify through {', '.join(failed)}")


@click.group("outbox")
def outbox_group() -> None:
    """Inspect, requeue or drop the dead letters: items a target rejected for good (HTTP 400, 413, 422...)."""


def _outbox(config: str) -> Outbox:
    from labmon_collector.delivery.outbox import Outbox

    path = _settings(config).data_dir / "outbox.sqlite"
    if not path.exists():
        raise click.ClickException(f"no outbox at {path}: the collector has not run with this config yet")
    return Outbox(path)


@outbox_group.command("list")
@CONFIG_OPTION
def outbox_list(config: str) -> None:
    """List the dead letters, oldest first."""
    box = _outbox(config)
    dead = box.dead_letters()
    box.close()
    click.echo("dead letters" if dead else "dead letters: none")
    for d in dead:
        what = d.payload.get("message") or f"cycle {d.payload.get('cycle')} of {iso(d.payload.get('started_at', 0))}"
        click.echo(f"  #{d.id:<6} {d.target:<26} rejected {iso(d.rejected_at)}  {d.error}\n          {what}")


def _dead_letter_action(name: str, done: str, act: Callable[[Outbox, list[int]], int], doc: str) -> click.Command:
    """Return the `labmon outbox NAME ID...|--all` command that applies `act` to the chosen dead letters."""

    @outbox_group.command(name, help=doc)
    @CONFIG_OPTION
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--all", "everything", is_flag=True, help="Every dead letter.")
    def command(config: str, ids: tuple[int, ...], everything: bool) -> None:
        if not ids and not everything:
            raise click.UsageError("name dead letters by ID, or use --all")
        box = _outbox(config)
        count = act(box, [d.id for d in box.dead_letters()] if everything else list(ids))
        box.close()
        click.echo(f"{done} {count} dead letters")

    return command


outbox_retry = _dead_letter_action(
    "retry",
    "requeued",
    lambda box, ids: box.requeue(ids),
    "Put dead letters back at the end of their target's queue (a running collector sends them within seconds).",
)
outbox_drop = _dead_letter_action("drop", "dropped", lambda box, ids: box.drop(ids), "Forget dead letters for good.")


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(collector)
    cli.add_command(status)
    cli.add_command(notify_test)
    cli.add_command(silence)
    cli.add_command(ack)
    cli.add_command(bridge_config)
    cli.add_command(outbox_group)
    cli.add_command(report)
