"""The `influx` sink: each cycle as InfluxDB line protocol over HTTP."""

from __future__ import annotations

from labmon import Register, hookimpl
from labmon_influx.sink import InfluxSink


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("influx", InfluxSink)
