"""The `scpi` instrument: any VISA instrument (LAN, USB, serial) read by query strings and parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from labmon import Duration, OptionError, Reading, measured, resource_problem
from labmon_rigol.visa import open_session

SERIAL_ENDINGS = 'read_termination = "\\r" (an SR830 and many serial instruments), "\\n" or "\\r\\n"'


@dataclass(frozen=True)
class ScpiQuery:
    """One reading (or several, `fields`, from one answer): what to send, and how to find the numbers in the answer."""

    query: str
    unit: str = ""
    field: int | None = None
    separator: str | None = None
    pattern: str | None = None
    unit_field: int | None = None
    scale: float = 1.0
    fields: list[str] = dataclass_field(default_factory=list)

    def __post_init__(self) -> None:
        if self.field is not None and self.pattern is not None:
            raise ValueError("set field or pattern, not both")
        if self.fields and (self.field is not None or self.pattern is not None or self.unit_field is not None):
            raise ValueError("fields names every field of the answer: set it without field, pattern or unit_field")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields {self.fields} names a field twice")
        if self.pattern is not None:
            try:
                groups = re.compile(self.pattern).groups
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
            if groups != 1:
                raise ValueError("pattern needs exactly one (group) around the number")

    def parse(self, answer: str) -> tuple[float, str]:
        """Return the number (unscaled) and unit in the instrument's answer, or raise ValueError saying why not."""
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
        return _number(text, answer), unit

    def readings(self, name: str, answer: str) -> list[Reading]:
        """Return the reading(s) of one answer: one per name of `fields`, or one called `name`."""
        if not self.fields:
            try:
                number, unit = self.parse(answer)
            except ValueError as exc:
                return [Reading.failed(name, str(exc), self.unit)]
            return [measured(name, number, unit, self.scale)]
        parts = answer.strip().split(self.separator or ",")
        try:
            if len(parts) != len(self.fields):
                raise ValueError(
                    f"answer {answer.strip()!r} has {len(parts)} fields, not the {len(self.fields)} of fields"
                )
            numbers = [_number(part, answer) for part in parts]
        except ValueError as exc:
            return [Reading.failed(n, str(exc), self.unit) for n in self.fields]
        return [measured(n, number, self.unit, self.scale) for n, number in zip(self.fields, numbers, strict=True)]


def _number(text: str, answer: str) -> float:
    """Return the number `text` holds, or raise ValueError naming the whole answer."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"no number in the instrument's answer {answer.strip()!r}") from None


@dataclass(frozen=True)
class ScpiConfig:
    """Options of a generic VISA instrument."""

    resource: str
    readings: dict[str, ScpiQuery]
    setup: list[str] = dataclass_field(default_factory=list)
    baud_rate: int | None = None
    read_termination: str | None = None
    write_termination: str = "\n"
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        errors = [e for e in (resource_problem(self.resource), self._termination_problem()) if e is not None]
        if not self.readings:
            errors.append(
                OptionError(
                    "readings", "no readings", 'add e.g. [measurer.instruments.NAME.readings.pressure] query = "..."'
                )
            )
        errors += [
            OptionError(f"setup[{i}]", f"{command!r} is a query", "setup sends commands and reads nothing back")
            for i, command in enumerate(self.setup)
            if "?" in command
        ]
        names = [n for name, q in self.readings.items() for n in (q.fields or [name])]
        errors += [
            OptionError("readings", f"two readings are called {n!r}", "give each reading and field its own name")
            for n in sorted({n for n in names if names.count(n) > 1})
        ]
        OptionError.raise_all(errors)

    def _termination_problem(self) -> OptionError | None:
        """Serial instruments end answers in \\r, \\n or \\r\\n alike: a guess would time out every query."""
        if self.read_termination is None and self.resource.upper().startswith("ASRL"):
            return OptionError(
                "read_termination",
                f"{self.resource} is a serial resource and no read_termination is set",
                f"set {SERIAL_ENDINGS}: what the instrument ends its answers with (labmon discover shows it)",
            )
        return None


class ScpiInstrument:
    """Sends each reading's query and parses the answer; one unparsable answer is one error reading."""

    Config = ScpiConfig

    def __init__(self, config: ScpiConfig) -> None:
        self.config = config
        self._session = open_session(
            config.resource,
            backend=config.backend,
            timeout=config.visa_timeout,
            read_termination="\n" if config.read_termination is None else config.read_termination,
            write_termination=config.write_termination,
            baud_rate=config.baud_rate,
        )
        try:
            self._session.line.whole_answers_only()
            self._session.line.ready()
            for command in config.setup:  # every open: a power-cycled or hand-changed instrument comes back set up
                self._session.write(command)
        except Exception:
            self._session.close()
            raise

    def read(self) -> list[Reading]:
        """Query every configured reading; an I/O failure or timeout raises (the measurer reopens the session)."""
        readings = []
        for name, query in self.config.readings.items():
            readings += query.readings(name, self._session.ask(query.query))
        return readings

    def close(self) -> None:
        """Close the VISA session."""
        self._session.close()
