"""Post batches to IFTTT Webhooks; the key never leaves this module unredacted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from labmon import Batch, Duration, Secret, TransientError, check_status, redact, retry_after_seconds
from labmon_ifttt.row import header_values, row_values


@dataclass(frozen=True)
class IftttConfig:
    """Options of the IFTTT sink."""

    event: str
    key: Secret
    mode: Literal["row", "json"] = "row"
    columns: list[str] | None = None
    base_url: str = "https://maker.ifttt.com"
    timeout: Duration = Duration(15.0)


class IftttSink:
    """`row` mode fills the Sheets applet's value1..value3; `json` mode posts the whole batch."""

    Config = IftttConfig

    def __init__(self, config: IftttConfig) -> None:
        self.config = config
        import requests  # here, not at the top: a collector without HTTP sinks never loads it

        self._session = requests.Session()

    def write(self, batch: Batch) -> None:
        """Post one cycle; raise so that the outbox retries it or parks the sink."""
        if self.config.mode == "json":
            self._post("json/with/key", batch.to_dict())
        else:
            self._post("with/key", row_values(batch, self.config.columns))

    def send_header(self) -> None:
        """Post a header row naming the configured columns."""
        if not self.config.columns:
            raise ValueError("set columns = [...] in the sink's config to send a header row")
        self._post("with/key", header_values(self.config.columns))

    def _post(self, route: str, payload: dict[str, Any]) -> None:
        import requests

        c = self.config
        url = f"{c.base_url.rstrip('/')}/trigger/{c.event}/{route}/{c.key}"
        try:
            response = self._session.post(url, json=payload, timeout=c.timeout)
        except requests.RequestException as exc:  # its text carries the URL, and so the key
            raise TransientError(redact(f"IFTTT unreachable: {type(exc).__name__}: {exc}", c.key)) from None
        check_status(
            "IFTTT", response.status_code, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
        )

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
