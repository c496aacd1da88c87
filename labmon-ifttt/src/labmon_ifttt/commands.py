"""`labmon ifttt-header`: send the header row of every IFTTT sink in a collector config."""

from __future__ import annotations

import click

from labmon import PermanentError, RetryLater, TransientError, load_node_config
from labmon_ifttt.sink import IftttSink


@click.command("ifttt-header")
@click.argument("config", type=click.Path(dir_okay=False))
def ifttt_header(config: str) -> None:
    """Post a header row (the column names) through every IFTTT sink of CONFIG; exit 1 if any failed."""
    collector = load_node_config(config, "collector").collector
    assert collector is not None
    entries = [e for e in collector.sinks if e.cls is IftttSink]
    if not entries:
        raise click.ClickException(f"{config} configures no sink of type ifttt")
    rows = [e for e in entries if e.config.mode == "row"]
    for entry in entries:
        if entry.config.mode != "row":
            click.echo(f"sink {entry.name}: json mode posts whole batches and has no header row; skipped")
    if not rows:
        raise click.ClickException(f"{config} has no ifttt sink in row mode: only row mode has a header row")
    failed = 0
    for entry in rows:
        try:
            sink = IftttSink(entry.config)
        except ValueError as exc:
            click.echo(f"sink {entry.name}: FAILED: {exc}")
            failed += 1
            continue
        try:
            sink.send_header()
            click.echo(f"sink {entry.name}: header sent ({len(sink.columns)} columns)")
        except (ValueError, PermanentError, RetryLater, TransientError) as exc:
            click.echo(f"sink {entry.name}: FAILED: {exc}")
            failed += 1
        finally:
            sink.close()
    if failed:
        raise SystemExit(1)
