"""The measurer's subcommands: `labmon measurer` and `labmon read`."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import click

from labmon import hookimpl
from labmon.cli import load_node_config
from labmon.times import parse_duration
from labmon_measurer.calibrate import (
    Proposal,
    Recording,
    State,
    Summary,
    add_rule,
    histogram,
    propose_between,
    propose_sigma,
    refusals,
    summarize,
    with_rule,
)
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
@click.option(
    "--state",
    type=click.Choice(["good", "bad"]),
    default=None,
    help="The state the instrument is in while recording (needed with --save and --against).",
)
@click.option("--samples", type=click.IntRange(min=2), default=None, help="Record N valid samples (default 100).")
@click.option("--duration", default=None, help='Record for a while instead, e.g. "10m".')
@click.option("--every", default="1s", show_default=True, help="Pause between samples.")
@click.option("--sigma", type=float, default=5.0, show_default=True, help="Good only: threshold at mean + SIGMA x std.")
@click.option("--below", is_flag=True, help="Good only: the reading alerts when it falls (a lock-monitor voltage).")
@click.option(
    "--save", type=click.Path(dir_okay=False, path_type=Path), help="Save the samples and their state (JSON)."
)
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved recording of the other state: the threshold goes in the gap, its side follows the data.",
)
@click.option(
    "--write",
    "collector_config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add the proposed rule to this collector config (refused if unsound, unless --force).",
)
@click.option("--force", is_flag=True, help="Write the rule even if the checks against the recordings fail.")
@click.option("--max-false", type=click.FloatRange(0, 1), default=0.01, help="Most of the good state to fire on: 0.01.")
@click.option("--rule", "rule_name", default=None, help="The rule's name (default INSTRUMENT-READING).")
@click.option("--for", "hold", default="20m", show_default=True, help="The rule's `for`.")
def calibrate(
    config: str,
    series: str,
    state: State | None,
    samples: int | None,
    duration: str | None,
    every: str,
    sigma: float,
    below: bool,
    save: Path | None,
    against: Path | None,
    collector_config: Path | None,
    force: bool,
    max_false: float,
    rule_name: str | None,
    hold: str,
) -> None:
    """Record INSTRUMENT/READING of CONFIG, summarise it and propose a threshold checked on both states."""
    node = load_node_config(config, "measurer")
    assert node.measurer is not None
    instrument, _, reading = series.partition("/")
    entry = next((e for e in node.measurer.instruments if e.name == instrument), None)
    if entry is None or not reading:
        names = ", ".join(e.name for e in node.measurer.instruments)
        raise click.BadParameter(f"{series!r} is not INSTRUMENT/READING of {config} (instruments: {names})")
    if state is None and (save or against):
        raise click.UsageError("say which state this recording is: --state good or --state bad")
    try:
        pause, limit = parse_duration(every), parse_duration(duration) if duration else None
        parse_duration(hold)
        other = Recording.load(against) if against else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if other is not None and other.state == state:
        raise click.UsageError(f"{against} is a recording of the {state} state too: record the other one")
    name, select = rule_name or f"{instrument}-{reading}", f"{node.measurer.name}/{series}"
    if collector_config and state == "bad" and other is None:
        raise click.UsageError("--write needs a recording of the good state: record it, or pass it with --against")
    if collector_config:
        try:  # before recording, which can take an hour: a taken name must not cost the recording
            with_rule(collector_config, {"name": name, "select": select, "above": 0.0, "for": hold})
        except ValueError as exc:
            raise click.ClickException(f"the rule cannot be added (nothing recorded):\n{exc}") from None
    recorded = record(entry, reading, samples or (None if limit else 100), limit, pause)
    recording = Recording(select, recorded.unit, recorded.samples, state)
    if save:
        recording.save(save)
    good, bad = (recording, other) if state != "bad" else (other, recording)
    try:
        for shown in (r for r in (good, bad) if r is not None):
            _print_summary(shown, summarize(shown.samples))
        if good is None:
            click.echo(f"record the good state too and pass --against {save or 'FILE'} to propose a rule")
            return
        proposal = (
            propose_between(summarize(good.samples), summarize(bad.samples))
            if bad
            else propose_sigma(summarize(good.samples), sigma, "below" if below else "above")
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _print_proposal(good, bad, proposal)
    if collector_config:
        unsound = refusals(proposal, good.samples, bad.samples if bad else None, max_false)
        if unsound and not force:
            why = "; ".join(unsound) + " (--force writes it anyway)"
            raise click.ClickException(f"the rule was not added: {why}\n{_kept(recording, save)}")
        rule = {"name": name, "select": select, proposal.side: float(f"{proposal.threshold:.6g}"), "for": hold}
        try:
            add_rule(collector_config, rule)
        except ValueError as exc:  # the file changed while recording
            raise click.ClickException(f"the rule was not added:\n{exc}\n{_kept(recording, save)}") from None
        click.echo(f"added rule {name!r} to {collector_config}")


def _kept(recording: Recording, save: Path | None) -> str:
    """Save the recording (unless --save did) so a failed --write does not lose it; say where."""
    if save is None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        save = Path(f"calibrate-{recording.series.replace('/', '-')}-{recording.state or 'unnamed'}-{stamp}.json")
        recording.save(save)
    return f"the recording is saved in {save}"


def _print_summary(recording: Recording, summary: Summary) -> None:
    unit = f" {recording.unit}" if recording.unit else ""
    state = f" ({recording.state})" if recording.state else ""
    click.echo(f"{recording.series}{state}: {summary.count} samples{unit and f' in{unit}'}")
    click.echo(f"  median {summary.median:.6g}  MAD {summary.mad:.6g}  mean {summary.mean:.6g}  std {summary.std:.6g}")
    click.echo(f"  min {summary.minimum:.6g}  max {summary.maximum:.6g}")
    click.echo("  percentiles  " + "  ".join(f"{p}%: {v:.6g}" for p, v in summary.percentiles.items()))
    click.echo("  running std  " + "  ".join(f"{n}: {v:.6g}" for n, v in summary.running_std))


def _print_proposal(good: Recording, bad: Recording | None, proposal: Proposal) -> None:
    unit = f" {good.unit}" if good.unit else ""
    click.echo("histogram (# good" + (", * bad)" if bad else ")"))
    for line in histogram(good.samples, bad.samples if bad else None, proposal.threshold):
        click.echo(line)
    click.echo(f"proposed rule: {proposal.side} {proposal.threshold:.6g}{unit}  ({proposal.reason})")
    on_good = f"on {proposal.fires(good.samples):.1%} of the good one"
    if bad:
        click.echo(f"  fires on {proposal.fires(bad.samples):.1%} of the bad recording, {on_good}")
    else:
        click.echo(f"  would have fired {on_good.replace(' one', ' recording')} (no bad recording to check it on)")


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(measurer)
    cli.add_command(read)
    cli.add_command(calibrate)
