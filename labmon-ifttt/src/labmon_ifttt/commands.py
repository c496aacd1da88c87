"""`labmon ifttt-header`: send the header row of every IFTTT sink in a collector config."""

from __future__ import annotations

import click

from labmon import PermanentError, RetryLater, TransientError, load_node_config
from labmon_ifttt.sink import IftttSink


@click.command("ifttt-header")
@click.argument("config", type=click.Path(dir_okay=False))
def ifttt_header(config: str) -> None:
    """Post a header row (the column names) through every IFTTT sink of CONFIG."""
    collector = load_node_config(config, "collector").collector
    assert collector is not None
    entries = [e for e in collector.sinks if e.cls is IftttSink]
    if not entries:
        raise click.ClickException(f"{config} configures no sink of type ifttt")
    for entry in entries:
        sink = IftttSink(entry.config)
        try:
            sink.send_header()
        except (ValueError, PermanentError, RetryLater, TransientError) as exc:
            raise click.ClickException(f"sink {entry.name}: {exc}") from None
        finally:
            sink.close()
        click.echo(f"sink {entry.name}: header sent ({len(entry.config.columns)} columns)")
