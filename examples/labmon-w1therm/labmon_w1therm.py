"""A DS18B20 1-Wire thermometer (the Pi's w1-gpio overlay) as a labmon instrument."""

from dataclasses import dataclass
from pathlib import Path

import labmon
from labmon import Reading, Register


@dataclass(frozen=True)
class W1ThermConfig:
    sensor: str  # e.g. "28-0316a2795cff", listed in /sys/bus/w1/devices
    devices: Path = Path("/sys/bus/w1/devices")


class W1Therm:
    Config = W1ThermConfig

    def __init__(self, config: W1ThermConfig) -> None:
        self.file = config.devices / config.sensor / "w1_slave"

    def read(self) -> list[Reading]:
        crc_line, data_line = self.file.read_text().splitlines()[:2]
        if not crc_line.endswith("YES"):
            return [Reading.failed("temperature", "CRC check failed", "degC")]
        return [Reading.ok("temperature", int(data_line.split("t=")[1]) / 1000, "degC")]

    def close(self) -> None:
        pass


@labmon.hookimpl
def labmon_register_instruments(register: Register) -> None:
    register("w1therm", W1Therm)
