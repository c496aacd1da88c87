"""The `pymeasure` instrument: a pymeasure driver built by class name, read property by property."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

from labmon import Duration, OptionError, Reading, measured
from labmon_pymeasure.driver import check_property, driver_class, read_property

# What a driver raises when one answer was not what it expected; an I/O failure raises anything else.
ANSWER_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError)


@dataclass(frozen=True)
class PropertyReading:
    """One reading: the driver property to read (`input_A.kelvin` for a channel's) and its unit."""

    attribute: str = field(metadata={"key": "property"})
    unit: str = ""
    scale: float = 1.0


@dataclass(frozen=True)
class PymeasureConfig:
    """Options of an instrument driven by pymeasure."""

    driver: str
    resource: str
    readings: dict[str, PropertyReading]
    read_termination: str | None = None
    write_termination: str | None = None
    baud_rate: int | None = None
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        if not self.readings:
            raise OptionError(
                "readings", "no readings", 'add e.g. [measurer.instruments.NAME.readings.power] property = "power"'
            )
        cls = driver_class(self.driver)
        for name, reading in self.readings.items():
            problem = check_property(cls, reading.attribute)
            if problem is not None:
                raise OptionError(f"readings.{name}.property", problem, "see the driver's documentation")


def read_all(driver: Any, readings: dict[str, PropertyReading]) -> list[Reading]:
    """Read every configured property; an unexpected answer is that reading's error, an I/O failure raises."""
    result = []
    for name, reading in readings.items():
        try:
            value = read_property(driver, reading.attribute)
        except ANSWER_ERRORS as exc:
            result.append(Reading.failed(name, f"{reading.attribute}: {exc}", reading.unit))
            continue
        if isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if isinstance(value, numbers.Real):
            result.append(measured(name, float(value), reading.unit, reading.scale))
        else:
            result.append(Reading.failed(name, f"{reading.attribute} answered {value!r}, not a number", reading.unit))
    return result


class PymeasureInstrument:
    """Builds the driver on the configured VISA resource; a failed read raises, and labmon builds it anew."""

    Config = PymeasureConfig

    def __init__(self, config: PymeasureConfig) -> None:
        self.config = config
        settings: dict[str, Any] = {"visa_library": config.backend, "timeout": round(config.visa_timeout * 1000)}
        for key in ("read_termination", "write_termination", "baud_rate"):
            if getattr(config, key) is not None:
                settings[key] = getattr(config, key)
        with warnings.catch_warnings():
            # pymeasure asks its maintainers, not the lab, whether some devices speak SCPI
            warnings.filterwarnings("ignore", "It is not known whether this device", FutureWarning)
            self.driver = driver_class(config.driver)(config.resource, **settings)

    def read(self) -> list[Reading]:
        """Read the configured properties."""
        return read_all(self.driver, self.config.readings)

    def close(self) -> None:
        """Close the VISA session."""
        self.driver.adapter.close()
