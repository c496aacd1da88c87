"""Record one reading of an instrument for `labmon calibrate`: valid samples, errors counted apart."""

from __future__ import annotations

import sys
import time

import click

from labmon.config import PluginEntry
from labmon.models import WHOLE_INSTRUMENT
from labmon_measurer.calibrate import Recording
from labmon_measurer.sampling import InstrumentRunner, read_all


def record(entry: PluginEntry, reading: str, samples: int | None, limit: float | None, pause: float) -> Recording:
    """Read the instrument until enough samples or time; Ctrl-C stops early and keeps what was recorded."""
    runner = InstrumentRunner(entry)
    values: list[float] = []
    errors: list[str] = []
    unit = ""
    started = time.monotonic()
    try:
        with click.progressbar(length=samples or round(limit or 0), label="recording", file=sys.stderr) as bar:
            while (samples is not None and len(values) < samples) or (
                limit is not None and time.monotonic() - started < limit
            ):
                found = [r for r in read_all([runner]) if r.name in (reading, WHOLE_INSTRUMENT)]
                if found and found[0].value is not None:
                    values.append(found[0].value)
                    unit = found[0].unit
                    bar.update(1 if samples else 0)
                else:
                    errors.append(found[0].error or "" if found else f"no reading named {reading!r}")
                    if len(errors) > max(10, len(values)):
                        raise click.ClickException(f"mostly errors, stopped: {errors[-1]}")
                if limit:
                    bar.update(round(time.monotonic() - started) - bar.pos)
                time.sleep(pause)  # the user's sampling pace, not a synchronisation
    except KeyboardInterrupt:
        click.echo("\nstopped: using what was recorded", err=True)
    finally:
        runner.close()
    if errors:
        click.echo(f"{len(errors)} error reading(s) skipped, the last: {errors[-1]}", err=True)
    return Recording(f"{entry.name}/{reading}", unit, values)
