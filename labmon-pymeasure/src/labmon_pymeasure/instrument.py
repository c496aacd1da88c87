"""The `pymeasure` instrument: a pymeasure driver built by class name, set up, and read property by property."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

from labmon import Duration, Line, OptionError, Reading, is_visa_timeout, measured, resource_problem
from labmon_pymeasure.driver import (
    check_property,
    check_setting,
    default_read_termination,
    driver_class,
    read_property,
    set_property,
)

# What a driver raises when one answer was not what it expected; an I/O failure raises anything else.
ANSWER_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError)
_DIAGNOSED: set[str] = set()  # resources whose timeout was already tried with other endings
ENDINGS = 'read_termination = "\\r" (an SR830 on RS-232), "\\n" or "\\r\\n"'


@dataclass(frozen=True)
class PropertyReading:
    """One reading (or several, `fields`, from one property's tuple): the driver property, its unit and scale."""

    attribute: str = field(metadata={"key": "property"})
    unit: str = ""
    scale: float = 1.0
    fields: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields {self.fields} names a field twice")

    def readings(self, name: str, value: Any) -> list[Reading]:
        """Return the reading(s) of one property value: one per name of `fields`, or one called `name`."""
        names = self.fields or [name]
        if not self.fields and isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        values = list(value) if self.fields and isinstance(value, list | tuple) else [value]
        if len(values) != len(names):
            why = f"{self.attribute} answered {value!r}: {len(values)} values, not the {len(names)} of fields"
            return [Reading.failed(n, why, self.unit) for n in names]
        bad = next((v for v in values if not isinstance(v, numbers.Real)), None)
        if bad is not None:
            return [Reading.failed(n, f"{self.attribute} answered {value!r}, not a number", self.unit) for n in names]
        return [measured(n, float(v), self.unit, self.scale) for n, v in zip(names, values, strict=True)]


@dataclass(frozen=True)
class PymeasureConfig:
    """Options of an instrument driven by pymeasure."""

    driver: str
    resource: str
    readings: dict[str, PropertyReading]
    setup: dict[str, Any] = field(default_factory=dict)
    read_termination: str | None = None
    write_termination: str | None = None
    baud_rate: int | None = None
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        errors = [e for e in (resource_problem(self.resource),) if e is not None]
        if not self.readings:
            errors.append(
                OptionError(
                    "readings", "no readings", 'add e.g. [measurer.instruments.NAME.readings.power] property = "power"'
                )
            )
        cls = driver_class(self.driver)
        for name, reading in self.readings.items():
            problem = check_property(cls, reading.attribute)
            if problem is not None:
                errors.append(OptionError(f"readings.{name}.property", problem, "see the driver's documentation"))
        for path, value in self.setup.items():
            problem = check_setting(cls, path, value)
            if problem is not None:
                errors.append(OptionError(f"setup.{path}", problem, "see the driver's documentation"))
        names = [n for name, r in self.readings.items() for n in (r.fields or [name])]
        errors += [
            OptionError("readings", f"two readings are called {n!r}", "give each reading and field its own name")
            for n in sorted({n for n in names if names.count(n) > 1})
        ]
        resource = self.resource.upper()
        bare = resource.startswith("ASRL") or resource.endswith("::SOCKET")  # no ending of their own, unlike USB
        if bare and (self.read_termination or default_read_termination(cls)) is None:
            errors.append(
                OptionError(
                    "read_termination",
                    f"{self.resource} has no ending of its own and {cls.__name__} sets none",
                    f"set {ENDINGS}: what the instrument ends its answers with (labmon discover shows it)",
                )
            )
        OptionError.raise_all(errors)


def read_all(driver: Any, readings: dict[str, PropertyReading]) -> list[Reading]:
    """Read every configured property; an unexpected answer is that reading's error, an I/O failure raises."""
    return [r for name, reading in readings.items() for r in read_one(driver, name, reading)]


def read_one(driver: Any, name: str, reading: PropertyReading) -> list[Reading]:
    """Read one configured property: its reading(s), or error readings for an unexpected answer."""
    try:
        value = read_property(driver, reading.attribute)
    except ANSWER_ERRORS as exc:
        return [Reading.failed(n, f"{reading.attribute}: {exc}", reading.unit) for n in reading.fields or [name]]
    return reading.readings(name, value)


class PymeasureInstrument:
    """Builds the driver on the configured VISA resource and sets it up; a failed read raises, and labmon builds
    it anew."""

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
        connection = getattr(self.driver.adapter, "connection", None)  # a VISA adapter's pyvisa resource
        self.line = Line(connection, config.visa_timeout) if connection is not None else None
        try:
            if self.line is not None:
                self.line.whole_answers_only()
                self.line.ready()
            for path, value in config.setup.items():  # every open: a hand-changed instrument comes back set up
                set_property(self.driver, path, value)
        except Exception:
            self.close()
            raise

    def read(self) -> list[Reading]:
        """Read the configured properties, the line in step before each; a timeout raises, saying why if known."""
        result = []
        for name, reading in self.config.readings.items():
            try:
                if self.line is not None:
                    self.line.ready()
                result += read_one(self.driver, name, reading)
            except Exception as exc:
                if self.line is None or not is_visa_timeout(exc):
                    raise
                raise self._unanswered(self.line, reading) from None
        return result

    def _unanswered(self, line: Line, reading: PropertyReading) -> TimeoutError:
        """Drain a late answer; return the timeout, naming the late answer or an ending that does get answers."""
        late = line.timed_out()
        within = f"within {self.config.visa_timeout:g} s (visa_timeout)"
        text = f"no answer to {reading.attribute} from {self.config.resource} {within}"
        if late:
            text += f"; a late answer ({late[:40]!r}) came after it and was dropped, so the next query is in step"
        elif self.config.resource not in _DIAGNOSED:
            _DIAGNOSED.add(self.config.resource)  # once: each try of another ending may cost a timeout
            ending = self._answering_ending(line, reading)
            if ending is not None:
                text += f": it does answer, with answers ending in {ending!r}; set read_termination = {ending!r}"
        return TimeoutError(text)

    def _answering_ending(self, line: Line, reading: PropertyReading) -> str | None:
        """Return the ending with which `reading` does get an answer (the configured one did not), or None."""
        mine = line.resource.read_termination
        try:
            for ending in ("\r", "\n"):
                if ending != mine:
                    line.resource.read_termination = ending
                    try:
                        read_property(self.driver, reading.attribute)
                    except Exception:
                        line.timed_out()
                        continue
                    return ending
            return None
        finally:
            line.resource.read_termination = mine

    def close(self) -> None:
        """Close the VISA session."""
        self.driver.adapter.close()
