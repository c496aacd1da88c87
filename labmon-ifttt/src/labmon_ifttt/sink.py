"""Post batches to IFTTT Webhooks; the key never leaves this module unredacted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from labmon import (
    Batch,
    Duration,
    OptionError,
    Secret,
    TransientError,
    check_spans,
    check_status,
    redact,
    retry_after_seconds,
)
from labmon_ifttt.columns import Columns
from labmon_ifttt.row import header_values, row_values, series


@dataclass(frozen=True)
class IftttConfig:
    """Options of the IFTTT sink."""

    event: str
    key: Secret
    mode: Literal["row", "json"] = "row"
    columns: list[str] | None = None
    state_dir: Path = Path("labmon-data")
    base_url: str = "https://maker.ifttt.com"
    connect_timeout: Duration = Duration(5.0)
    timeout: Duration = Duration(15.0)

    def __post_init__(self) -> None:
        check_spans(self, connect_timeout="5s", timeout="15s")
        if any(p.exists() and not p.is_dir() for p in (self.state_dir, *self.state_dir.parents)):
            raise OptionError("state_dir", f"{self.state_dir} is not a directory", "point it at a directory")

    @property
    def columns_file(self) -> Path:
        """Return where the learned column order of this event is kept."""
        return self.state_dir / f"ifttt-{self.event}.columns.json"


class IftttSink:
    """`row` mode fills the Sheets applet's value1..value3; `json` mode posts the whole batch."""

    Config = IftttConfig

    def __init__(self, config: IftttConfig) -> None:
        self.config = config
        self.timeout: float = config.timeout
        learns = config.mode == "row" and config.columns is None
        self._learned = Columns(config.columns_file) if learns else None
        import requests  # here, not at the top: a collector without HTTP sinks never loads it

        self._session = requests.Session()

    @property
    def columns(self) -> list[str]:
        """Return the sheet's columns: the configured ones, else those learned so far."""
        return self._learned.keys if self._learned is not None else self.config.columns or []

    def write(self, batch: Batch) -> None:
        """Post one cycle; raise so that the outbox retries it or parks the sink."""
        if self.config.mode == "json":
            self._post("json/with/key", batch.to_dict())
            return
        if self._learned is not None:
            self._learned.extend(series(batch))
        self._post("with/key", row_values(batch, self.columns))

    def send_header(self) -> None:
        """Post a header row naming the columns."""
        if not self.columns:
            raise ValueError("no columns yet: set columns = [...], or let the collector deliver one cycle first")
        self._post("with/key", header_values(self.columns))

    def _post(self, route: str, payload: dict[str, Any]) -> None:
        import requests

        c = self.config
        url = f"{c.base_url.rstrip('/')}/trigger/{c.event}/{route}/{c.key}"
        try:
            response = self._session.post(url, json=payload, timeout=(c.connect_timeout, self.timeout))
        except requests.RequestException as exc:  # its text carries the URL, and so the key
            raise TransientError(redact(f"IFTTT unreachable: {type(exc).__name__}: {exc}", c.key)) from None
        check_status(
            "IFTTT", response.status_code, retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            meanings={404: "no such webhook or event; check event and the key", 401: "the key was refused; check key"},
        )  # fmt: skip

    def set_timeout(self, seconds: float) -> None:
        """Wait up to `seconds` for an answer from now on (labmon lengthens it after a try that ran out of it)."""
        self.timeout = seconds

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
