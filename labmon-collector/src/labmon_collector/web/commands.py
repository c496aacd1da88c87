"""`labmon web`, `labmon history` and `labmon alerts`: the page and the history from the files alone."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.config import WebConfig
from labmon.options import UnsetSecret
from labmon.times import parse_duration

if TYPE_CHECKING:
    from labmon_collector.history.reader import History

UTC_OPTION = click.option("--utc", is_flag=True, help="Print times in UTC (the default is local time with its offset).")


def _stamper(utc: bool) -> Callable[[float], str]:
    """Return how to print a time: local with its offset (as --since reads a date without one), or UTC."""
    zone = UTC if utc else None
    return lambda t: datetime.fromtimestamp(t, zone).astimezone(zone).isoformat(timespec="milliseconds")


def _since(text: str, now: float, param: str) -> float:
    """Return the time `text` means: a duration back from now, or an ISO date/time."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (24h) nor a date (2026-11-24T10:00)", param_hint=param
        ) from None


def _tables(path: Path) -> set[str]:
    from labmon_collector.sqlitedb import table_names

    try:
        return table_names(path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--listen", default=None, help="host:port (default: [collector.web] listen, or 127.0.0.1:8080).")
def web(config: str, listen: str | None) -> None:
    """Serve the status page from CONFIG's files alone (history and alert history; the collector may be stopped)."""
    from labmon_collector.alerting.alertstore import AlertStore
    from labmon_collector.alerting.events import EventLog
    from labmon_collector.web.server import WebServer
    from labmon_collector.web.view import LabView

    settings = load_node_config(config, "collector", secrets=False).collector  # the page's password only
    assert settings is not None
    base = settings.web or WebConfig()
    if isinstance(base.password, UnsetSecret):
        raise click.ClickException(f"invalid config: {base.password.problem}")
    try:
        page = WebConfig(listen or base.listen, base.password, base.public)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    store = AlertStore(settings.data_dir / "alerts.sqlite")
    events = EventLog(settings.data_dir / "events.sqlite")
    server = WebServer(LabView(settings, store, events), page)
    if not server.start():
        raise click.ClickException(f"cannot listen on {page.listen} (see the log line above)")
    click.echo(f"labmon web: {server.url} (Ctrl-C stops)")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        store.close()
        events.close()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.argument("selector")
@click.option(
    "--since", default="24h", show_default=True, help="A duration back from now, or an ISO date (local time)."
)
@click.option("--until", default=None, help="A duration back from now, or an ISO date (default: now).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (the default is a readable table).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one reading each.")
@UTC_OPTION
def history(file: str, selector: str, since: str, until: str | None, as_csv: bool, as_json: bool, utc: bool) -> None:
    """Print the readings of FILE's series that match SELECTOR (measurer/instrument/reading, * wildcards)."""
    from labmon_collector.history.reader import History

    now = time.time()
    start, end = _since(since, now, "--since"), _since(until, now, "--until") if until else now
    try:
        store = History(Path(file))
    except (ValueError, sqlite3.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        _print_history(store, file, selector, (start, end), as_csv, as_json, _stamper(utc))
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{file} cannot be read as a labmon history: {exc}") from None
    finally:
        store.close()


def _print_history(
    store: History,
    file: str,
    selector: str,
    span: tuple[float, float],
    as_csv: bool,
    as_json: bool,
    stamp: Callable[[float], str],
) -> None:
    found = store.series(selector)
    if not found:
        known = ", ".join(s.key for s in store.series()[:10]) or "none"
        raise click.ClickException(f"no series in {file} matches {selector!r}; stored series: {known}")
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer is not None:
        writer.writerow(["time", "series", "value", "unit", "status", "error"])
    for info in found:
        for t, value, status, error in store.readings(info.id, *span):
            row = {"time": stamp(t), "series": info.key, "value": value, "unit": info.unit, "status": status}
            if as_json:
                click.echo(json.dumps(row | {"error": error}))
            elif writer is not None:
                writer.writerow([*row.values(), error or ""])
            else:
                shown = error if status == "error" else f"{value:g} {info.unit}"
                click.echo(f"{row['time']}  {info.key:<36} {shown}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--since", default="7d", show_default=True, help="A duration back from now, or an ISO date.")
@click.option("--rule", default="", help="Only rules whose name contains this.")
@click.option("--series", default="", help="Only series that contain this.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one event each.")
@UTC_OPTION
def alerts(file: str, since: str, rule: str, series: str, as_json: bool, utc: bool) -> None:
    """Print the alert history, oldest first: FILE is a collector config or its data_dir's events.sqlite."""
    from labmon_collector.alerting.events import EventLog

    path = Path(file)
    if path.suffix == ".toml":
        settings = load_node_config(file, "collector", secrets=False).collector
        assert settings is not None
        path = settings.data_dir / "events.sqlite"
        if not path.exists():
            raise click.ClickException(f"no alert history at {path}: the collector has not run with this config yet")
    elif "events" not in _tables(path):
        raise click.ClickException(f"{path} holds no alert history (expected a collector's events.sqlite)")
    log = EventLog(path)
    found = log.query(since=_since(since, time.time(), "--since"), rule=rule, series=series, limit=1_000_000)
    log.close()
    for event in reversed(found):
        click.echo(json.dumps(asdict(event)) if as_json else event.line(_stamper(utc)))


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(web)
    cli.add_command(history)
    cli.add_command(alerts)
