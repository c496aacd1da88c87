"""`labmon report`: how well each watched series kept within its bounds, per day and per week."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import tzinfo
from pathlib import Path

import click

from labmon.cli import load_node_config
from labmon.options import OptionError
from labmon.rule_config import RuleConfig

SQLITE_MAGIC = b"SQLite format 3\x00"


def _zone(name: str | None) -> tzinfo:
    """Return the time zone `name` (the local one if None)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not a time zone (e.g. Europe/Berlin, UTC)", param_hint="--tz") from None


def _asked_rule(
    select: str | None, above: float | None, below: float | None, outside: tuple[float, ...]
) -> RuleConfig | None:
    """Return the rule the options describe, or None if they name no bound."""
    if above is None and below is None and not outside:
        return None
    try:
        return RuleConfig(
            name="report", select=select or "*", above=above, below=below, outside=list(outside) if outside else None
        )
    except OptionError as exc:
        raise click.UsageError(f"--{exc.key}: {exc}") from None


@click.command()
@click.argument("source", type=click.Path(dir_okay=False, exists=True))
@click.option("--since", default="7d", show_default=True, help="A duration back from now, or an ISO date.")
@click.option("--until", default=None, help="A duration back from now, or an ISO date (default: now).")
@click.option("--select", default=None, help="Only series matching this (measurer/instrument/reading, * wildcards).")
@click.option("--above", type=float, default=None, help="Judge the selected series by this bound (out when above).")
@click.option("--below", type=float, default=None, help="Judge the selected series by this bound (out when below).")
@click.option("--outside", type=float, nargs=2, default=None, help="Judge by a band: out when outside LOW HIGH.")
@click.option("--tz", default=None, help="Time zone of the days and weeks (default: this machine's).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per series, rule and period.")
@click.option("--json", "as_json", is_flag=True, help="JSON.")
@click.option("--send", is_flag=True, help="Send the weekly digest of the 7 days to now through its notifiers now.")
def report(
    source: str,
    since: str,
    until: str | None,
    select: str | None,
    above: float | None,
    below: float | None,
    outside: tuple[float, float] | None,
    tz: str | None,
    as_csv: bool,
    as_json: bool,
    send: bool,
) -> None:
    """Uptime within bounds, excursions and unknown time of each watched series, per day and per week.

    SOURCE is the collector's config (its threshold and band rules, its history) or a history file (give the
    bound with --above, --below or --outside). Unknown time (no reading, error readings) is counted apart.
    """
    from labmon_collector.health.report import COLUMNS, csv_rows, health, text_lines, watched
    from labmon_collector.history.reader import History
    from labmon_collector.web.commands import _since
    from labmon_collector.web.view import history_path

    if send:
        _send(source)
        return
    zone = _zone(tz)
    now = time.time()
    start, end = _since(since, now, "--since"), _since(until, now, "--until") if until else now
    asked = _asked_rule(select, above, below, outside or ())
    interval = 60.0
    with Path(source).open("rb") as f:
        is_history = f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    if is_history:
        if asked is None:
            raise click.UsageError("a history file has no rules: give a bound with --above, --below or --outside")
        file, rules = Path(source), [asked]
    else:
        settings = load_node_config(source, "collector", secrets=False).collector
        assert settings is not None
        found = history_path(settings)
        if found is None:
            raise click.ClickException(f"{source} has no sqlite sink: there is no history to report on")
        file, interval = found, settings.interval
        rules = [asked] if asked is not None else watched(settings.rules)
        if not rules:
            raise click.ClickException(f"{source} has no threshold or band rule: give a bound with --above/--below")
    try:
        history = History(file)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        found_health = health(history, rules, start, end, zone, interval=interval, only=select or "*")
    finally:
        history.close()
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in found_health], indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        writer.writerows(csv_rows(found_health))
    elif not found_health:
        click.echo("no stored series is watched by these rules")
    else:
        click.echo("\n".join(text_lines(found_health, zone)))


def _send(config: str) -> None:
    """Build the weekly digest of CONFIG's collector for the 7 days to now and send it; exit 1 if a notifier fails."""
    from labmon_collector.health.digest import build, send_now
    from labmon_collector.web.view import history_path

    settings = load_node_config(config, "collector").collector
    assert settings is not None
    if not settings.notifiers:
        raise click.ClickException(f"{config} configures no notifiers")
    digest = build(settings, history_path(settings), time.time())
    sent = send_now(settings, digest)
    for name, error in sent:
        click.echo(f"{name}: {'sent' if error is None else 'FAILED: ' + error}", err=error is not None)
    if not sent:
        raise click.ClickException("the digest's notifiers are not in the config")
    if any(error is not None for _, error in sent):
        raise click.ClickException("the digest could not be sent through every notifier")
