"""Commented starter configs written by `labmon init`."""

from __future__ import annotations

BROKER = """# Where the MQTT broker (Mosquitto) runs. Secrets are never written here: use
# password = "${LABMON_BROKER_PASSWORD}" (an environment variable) or password_file = "/etc/labmon/broker-password".
[broker]
host = "127.0.0.1"
port = 1883
topic_prefix = "labmon"       # topics: <prefix>/<measurer>/inquiries, /results, /status
# username = "labmon"
# password = "${LABMON_BROKER_PASSWORD}"
# tls = true
# ca_file = "/etc/labmon/ca.crt"
"""


def measurer(name: str) -> str:
    """Return a starter measurer config for the measurer `name`."""
    examples = "\n".join(commented(example) for example in EXAMPLES.values())
    return f'''# labmon measurer config: one per Raspberry Pi at an optical table.
# Check it with `labmon check FILE`, try the instruments with `labmon read FILE`,
# and run it with `labmon measurer FILE`.

{BROKER}
[measurer]
name = "{name}"               # the collector polls it under this name

# One table per instrument; the table name becomes the reading's instrument name.
# `type` names an installed instrument plugin (`labmon plugins` lists them);
# `timeout` bounds one read of it (default "10s").
[measurer.instruments.laser1]
type = "sim"                  # a simulated signal: replace with a real instrument plugin
signal = "laser-lock"         # constant | sine | random-walk | laser-lock
reading = "lock_error"
unit = "V"
level = 0.05                  # the locked level
amplitude = 1.0               # the jump while unlocked
noise = 0.01
unlock_every = "10m"
unlock_for = "2m"
timeout = "5s"

# Real instruments come from plugins. `labmon discover` finds the ones connected here and prints a
# block like these for each; uncomment one (and install its plugin) to use it.
{examples}'''


EXAMPLES = {
    "rigol": """# labmon-rigol: a Rigol DS2000/DS1000Z scope over USB or LAN (TCPIP0::192.168.1.20::5555::SOCKET)
[measurer.instruments.scope]
type = "rigol"
resource = "USB0::0x1AB1::0x04B0::DS2D000000001::INSTR"
channels = [1]
metrics = ["jitter", "peak_time"]   # laser-lock metrics from the screen traces; or measurements = ["vpp"]
traces = 300
timeout = "60s"
""",
    "scpi": """# labmon-rigol: any instrument that answers text queries, here an ion-pump controller on a serial port
[measurer.instruments.pump]
type = "scpi"
resource = "ASRL/dev/ttyUSB0::INSTR"
baud_rate = 9600
read_termination = "\\r"
write_termination = "\\r"
[measurer.instruments.pump.readings.pressure]
query = "~ 05 0B 00"          # answers e.g. "OK 00 7.2E-09 TORR"
field = 2
unit_field = 3
""",
    "pymeasure": """# labmon-pymeasure: any instrument pymeasure has a driver for, here a Thorlabs power meter
[measurer.instruments.power_meter]
type = "pymeasure"
driver = "pymeasure.instruments.thorlabs.ThorlabsPM100USB"
resource = "USB0::0x1313::0x8072::P2000123::INSTR"
[measurer.instruments.power_meter.readings.power]
property = "power"            # a property of the driver; a channel's is e.g. "input_A.kelvin"
unit = "W"
""",
}
"""Instrument examples that `labmon init measurer` writes commented out: core alone has no such plugins."""


def commented(example: str) -> str:
    """Return `example` with every line commented out."""
    return "".join(line if line.startswith("#") else f"# {line}" for line in example.splitlines(keepends=True))


def collector(measurers: list[str]) -> str:
    """Return a starter collector config that polls `measurers`."""
    names = ", ".join(f'"{m}"' for m in measurers)
    return f'''# labmon collector config: the Pi that polls every measurer, stores readings and alerts.
# Check it with `labmon check FILE`; run it with `labmon collector FILE`.

{BROKER}
[collector]
interval = "60s"              # one inquiry to every measurer per interval
reply_timeout = "10s"         # a measurer that has not answered by then is reported missing
data_dir = "labmon-data"      # outbox, alert state and history of alerts (beside this file; under a service
                              # installed by `labmon install-service`: in /var/lib/labmon)
measurers = [{names}]
# A measurer on its own broker (each Pi runs Mosquitto): replace the list above by tables, e.g.
# [collector.measurers.table2.broker]
# host = "table2.local"

# Where every cycle's readings go. Each sink is fed through the durable outbox.
[collector.sinks.history]
type = "sqlite"
path = "labmon-history.sqlite"

# [collector.sinks.spreadsheet]
# type = "csv"
# path = "readings.csv"

# Where alerts go.
[collector.notifiers.console]
type = "console"

# A rule fires once its condition has held for `for`, and says so again when it clears.
# select is measurer/instrument/reading, with * wildcards. See the README for every condition.
[[collector.rules]]
name = "laser1-unlocked"
select = "{measurers[0]}/laser1/lock_error"
above = 0.5
clear = 0.3                   # hysteresis: once firing, it clears only below 0.3
for = "20m"
severity = "critical"

# A Pi that stops answering is an alert of its own (and its other alerts keep quiet meanwhile).
[[collector.rules]]
name = "measurer-offline"
select = "*"
offline = true
for = "3m"
severity = "critical"

# An instrument that cannot be read for a while.
[[collector.rules]]
name = "instrument-unreachable"
select = "*/*/*"
error = true
for = "10m"
'''
