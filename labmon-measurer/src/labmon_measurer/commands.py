"""The measurer's subcommands: `labmon measurer` and `labmon read`."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path

import click

from labmon import hookimpl
from labmon.cli import load_node_config, plugin_manager
from labmon.plugins import collect
from labmon.times import parse_duration
from labmon_measurer.calibrate import Proposal, Recording, Summary, add_rule, propose_between, propose_sigma, summarize
from labmon_measurer.recording import record
from labmon_measurer.sampling import InstrumentRunner, read_all


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
def measurer(config: str) -> None:
    """Answer the collector's inquiries with the readings of CONFIG's instruments."""
    from labmon_measurer.service import Measurer  # paho: not for --help

    node = load_node_config(config, "measurer")
    service = Measurer(node)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service.start()
    click.echo(
        f"measurer {service.name}: {len(service.runners)} instrument(s), listening on {service.topics.inquiries}",
        err=True,
    )
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per reading.")
def read(config: str, as_json: bool) -> None:
    """Read CONFIG's instruments once, here, without MQTT, and print the readings."""
    node = load_node_config(config, "measurer")
    assert node.measurer is not None
    runners = [InstrumentRunner(entry) for entry in node.measurer.instruments]
    readings = read_all(runners)
    for runner in runners:
        runner.close()
    for r in readings:
        if as_json:
            click.echo(json.dumps(asdict(r)))
        elif r.status == "ok":
            click.echo(f"{r.key:<30} {r.value:.6g} {r.unit}".rstrip())
        else:
            click.echo(f"{r.key:<30} ERROR {r.error}")
    if any(r.status == "error" for r in readings):
        raise SystemExit(1)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("series", metavar="INSTRUMENT/READING")
@click.option("--samples", type=click.IntRange(min=2), default=None, help="Record N valid samples (default 100).")
@click.option("--duration", default=None, help='Record for a while instead, e.g. "10m".')
@click.option("--every", default="1s", show_default=True, help="Pause between samples.")
@click.option("--sigma", type=float, default=5.0, show_default=True, help="Threshold at mean + SIGMA x std.")
@click.option("--below", is_flag=True, help="The reading alerts when it falls (a lock-monitor voltage, say).")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), help="Save the samples (JSON).")
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved recording of the bad state: put the threshold in the gap between the two.",
)
@click.option(
    "--write",
    "collector_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add the proposed rule to this collector config.",
)
@click.option("--rule", "rule_name", default=None, help="The rule's name (default INSTRUMENT-READING).")
@click.option("--for", "hold", default="20m", show_default=True, help="The rule's `for`.")
def calibrate(
    config: str,
    series: str,
    samples: int | None,
    duration: str | None,
    every: str,
    sigma: float,
    below: bool,
    save: Path | None,
    against: Path | None,
    collector_config: Path | None,
    rule_name: str | None,
    hold: str,
) -> None:
    """Record INSTRUMENT/READING of CONFIG, summarise it and propose a threshold (optionally write the rule)."""
    node = load_node_config(config, "measurer")
    assert node.measurer is not None
    instrument, _, reading = series.partition("/")
    entry = next((e for e in node.measurer.instruments if e.name == instrument), None)
    if entry is None or not reading:
        names = ", ".join(e.name for e in node.measurer.instruments)
        raise click.BadParameter(f"{series!r} is not INSTRUMENT/READING of {config} (instruments: {names})")
    try:
        pause, limit = parse_duration(every), parse_duration(duration) if duration else None
        parse_duration(hold)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    recording = record(entry, reading, samples or (None if limit else 100), limit, pause)
    recording = Recording(f"{node.measurer.name}/{series}", recording.unit, recording.samples)
    if save:
        recording.save(save)
    try:
        good = summarize(recording.samples)
        proposal = (
            propose_between(good, summarize(Recording.load(against).samples))
            if against
            else propose_sigma(good, sigma, "below" if below else "above")
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _print_summary(recording, good, proposal)
    if collector_config:
        rule = {
            "name": rule_name or f"{instrument}-{reading}",
            "select": recording.series,
            proposal.side: float(f"{proposal.threshold:.6g}"),
            "for": hold,
        }
        try:
            add_rule(collector_config, rule, collect(plugin_manager()))
        except ValueError as exc:
            raise click.ClickException(f"the rule was not added:\n{exc}") from None
        click.echo(f"added rule {rule['name']!r} to {collector_config}")


def _print_summary(recording: Recording, summary: Summary, proposal: Proposal) -> None:
    unit = f" {recording.unit}" if recording.unit else ""
    click.echo(f"{recording.series}: {summary.count} samples{unit and f' in{unit}'}")
    click.echo(
        f"  mean {summary.mean:.6g}  std {summary.std:.6g}  min {summary.minimum:.6g}  max {summary.maximum:.6g}"
    )
    click.echo("  percentiles  " + "  ".join(f"{p}%: {v:.6g}" for p, v in summary.percentiles.items()))
    click.echo("  running std  " + "  ".join(f"{n}: {v:.6g}" for n, v in summary.running_std))
    click.echo(f"proposed rule: {proposal.side} {proposal.threshold:.6g}{unit}  ({proposal.reason})")


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(measurer)
    cli.add_command(read)
    cli.add_command(calibrate)
