"""The `scpi` instrument: any VISA instrument (LAN, USB, serial) read by query strings and parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labmon import Duration, OptionError, Reading
from labmon_rigol.resource import resource_problem
from labmon_rigol.visa import open_session


@dataclass(frozen=True)
class ScpiQuery:
    """One reading: what to send, and how to find the number (and maybe the unit) in the answer."""

    query: str
    unit: str = ""
    field: int | None = None
    separator: str | None = None
    pattern: str | None = None
    unit_field: int | None = None
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.field is not None and self.pattern is not None:
            raise ValueError("set field or pattern, not both")
        if self.pattern is not None:
            try:
                groups = re.compile(self.pattern).groups
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
            if groups != 1:
                raise ValueError("pattern needs exactly one (group) around the number")

    def parse(self, answer: str) -> tuple[float, str]:
        """Return the value and unit in the instrument's answer, or raise ValueError saying why not."""
        text = answer.strip()
        fields = text.split(self.separator)
        unit = self.unit
        if self.unit_field is not None and self.unit_field < len(fields):
            unit = fields[self.unit_field]
        if self.pattern is not None:
            match = re.search(self.pattern, text)
            if match is None:
                raise ValueError(f"answer {text!r} does not match {self.pattern!r}")
            text = match.group(1)
        elif self.field is not None:
            if self.field >= len(fields):
                raise ValueError(f"answer {text!r} has no field {self.field}")
            text = fields[self.field]
        try:
            return float(text) * self.scale, unit
        except ValueError:
            raise ValueError(f"no number in the instrument's answer {answer.strip()!r}") from None


@dataclass(frozen=True)
class ScpiConfig:
    """Options of a generic VISA instrument."""

    resource: str
    readings: dict[str, ScpiQuery]
    baud_rate: int | None = None
    read_termination: str = "\n"
    write_termination: str = "\n"
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        errors = [e for e in (resource_problem(self.resource),) if e is not None]
        if not self.readings:
            errors.append(
                OptionError(
                    "readings", "no readings", 'add e.g. [measurer.instruments.NAME.readings.pressure] query = "..."'
                )
            )
        OptionError.raise_all(errors)


class ScpiInstrument:
    """Sends each reading's query and parses the answer; one unparsable answer is one error reading."""

    Config = ScpiConfig

    def __init__(self, config: ScpiConfig) -> None:
        self.config = config
        self._session = open_session(
            config.resource,
            backend=config.backend,
            timeout=config.visa_timeout,
            read_termination=config.read_termination,
            write_termination=config.write_termination,
            baud_rate=config.baud_rate,
        )

    def read(self) -> list[Reading]:
        """Query every configured reading; an I/O failure raises (the measurer reopens the session)."""
        readings = []
        for name, query in self.config.readings.items():
            answer = self._session.query(query.query)
            try:
                value, unit = query.parse(answer)
            except ValueError as exc:
                readings.append(Reading.failed(name, str(exc), query.unit))
            else:
                readings.append(Reading.ok(name, value, unit))
        return readings

    def close(self) -> None:
        """Close the VISA session."""
        self._session.close()
