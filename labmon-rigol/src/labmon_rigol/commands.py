"""`labmon rigol-emulator`: serve an emulated DS2072A so a scope config can be tried without a scope."""

from __future__ import annotations

import errno
import threading
import time

import click

from labmon import parse_duration


@click.command("rigol-emulator")
@click.option("--port", type=int, default=5555, show_default=True, help="TCP port on 127.0.0.1.")
@click.option("--unlock-every", default=None, help='Drop the emulated laser out of lock periodically, e.g. "60s".')
@click.option("--unlock-for", default="20s", show_default=True, help="How long each unlock lasts.")
@click.option("--bad-blocks", type=click.FloatRange(0, 1), default=0.0, help="Fraction of blocks sent short/garbled.")
def rigol_emulator(port: int, unlock_every: str | None, unlock_for: str, bad_blocks: float) -> None:
    """Serve an emulated Rigol DS2072A on TCPIP0::127.0.0.1::PORT::SOCKET until Ctrl-C."""
    try:
        every = parse_duration(unlock_every) if unlock_every else None
        duration = parse_duration(unlock_for)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if every is not None and not 0 < duration < every:
        raise click.BadParameter("--unlock-for must be shorter than --unlock-every")
    from labmon_rigol.emulator import ScopeEmulator, ScopeState  # numpy: only for this command

    try:
        emulator = ScopeEmulator(port, ScopeState(short_rate=bad_blocks / 2, garbled_rate=bad_blocks / 2)).start()
    except OSError as exc:  # the port is taken (another emulator?) or not ours to use
        hint = "; choose another with --port" if exc.errno == errno.EADDRINUSE else ""
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}{hint}") from None
    click.echo(f"emulated DS2072A at {emulator.resource}; Ctrl-C stops", err=True)
    try:
        while every is not None:  # the emulated laser's schedule
            time.sleep(every - duration)
            emulator.state.locked = False
            time.sleep(duration)
            emulator.state.locked = True
        threading.Event().wait()  # serve until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        emulator.disappear()
