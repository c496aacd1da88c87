"""Post batches as line protocol to an InfluxDB-compatible HTTP endpoint; secrets never leave unredacted."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any, Literal

from labmon import (
    Batch,
    Duration,
    OptionError,
    PermanentError,
    Secret,
    TransientError,
    check_status,
    redact,
    retry_after_seconds,
)
from labmon_influx.lines import batch_lines

V1_PRECISION = {"s": "s", "ms": "ms", "us": "u", "ns": "n"}


@dataclass(frozen=True)
class InfluxConfig:
    """Options of the line-protocol sink: `database` (v1 API) or `org`, `bucket` and `token` (v2 API)."""

    url: str
    database: str | None = None
    username: str | None = None
    password: Secret | None = None
    org: str | None = None
    bucket: str | None = None
    token: Secret | None = None
    measurement: str = "labmon"
    precision: Literal["s", "ms", "us", "ns"] = "ns"
    batch_size: int = 5000
    gzip: bool = True
    timeout: Duration = Duration(15.0)

    def __post_init__(self) -> None:
        v2 = (self.org, self.bucket, self.token)
        if self.database is None and None in v2:
            raise OptionError(
                "database",
                "no destination: neither database (InfluxDB 1.x API) nor org, bucket and token (2.x API) are set",
                'set database = "lab", or org, bucket and token = "${INFLUX_TOKEN}"',
            )
        if self.database is not None and any(v is not None for v in v2):
            raise OptionError("database", "both database (1.x API) and org/bucket/token (2.x API) are set", "keep one")
        if (self.username is None) != (self.password is None):
            raise OptionError("username", "username and password go together", "set both, or neither")
        if not self.url.startswith(("http://", "https://")):
            raise OptionError("url", f"not an http(s) URL: {self.url!r}", 'write e.g. url = "http://influx:8086"')
        if self.batch_size < 1:
            raise OptionError("batch_size", "must be at least 1")


class InfluxSink:
    """Writes every reading as a point; a redelivered batch rewrites the same points (same series and time)."""

    Config = InfluxConfig

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.timeout: float = config.timeout
        import requests  # here, not at the top: a collector without HTTP sinks never loads it

        self._session = requests.Session()
        c = config
        base = c.url.rstrip("/")
        if c.database is not None:
            self._endpoint = f"{base}/write"
            self._params = {"db": c.database, "precision": V1_PRECISION[c.precision]}
            if c.username is not None and c.password is not None:
                self._session.auth = (c.username, c.password)
        else:
            self._endpoint = f"{base}/api/v2/write"
            self._params = {"org": c.org or "", "bucket": c.bucket or "", "precision": c.precision}
            self._session.headers["Authorization"] = f"Token {c.token}"
        self._session.headers["Content-Type"] = "text/plain; charset=utf-8"
        if c.gzip:
            self._session.headers["Content-Encoding"] = "gzip"

    def write(self, batch: Batch) -> None:
        """Post the batch in requests of at most `batch_size` lines; raise so the outbox retries or parks it."""
        lines = batch_lines(batch, self.config.measurement, self.config.precision)
        for start in range(0, len(lines), self.config.batch_size):
            body = "\n".join(lines[start : start + self.config.batch_size]).encode()
            self._post(gzip.compress(body, compresslevel=5) if self.config.gzip else body)

    def _post(self, body: bytes) -> None:
        import requests

        c = self.config
        secrets = [s for s in (c.password, c.token) if s]
        try:
            response = self._session.post(self._endpoint, params=self._params, data=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(redact(f"{c.url} unreachable: {type(exc).__name__}: {exc}", *secrets)) from None
        try:
            check_status(
                "InfluxDB", response.status_code, retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                meanings=INFLUX_MEANINGS,
            )  # fmt: skip
        except (PermanentError, TransientError) as exc:  # the server's own words say which point or database
            raise type(exc)(redact(f"{exc}: {_excerpt(response)}", *secrets)) from None

    def set_timeout(self, seconds: float) -> None:
        """Wait up to `seconds` for an answer from now on (labmon lengthens it after a try that ran out of it)."""
        self.timeout = seconds

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


INFLUX_MEANINGS = {
    401: "the username and password, or the token, were refused; check them",
    403: "this user or token may not write there; check its rights",
    404: "no such database or bucket; create it, or fix database (org and bucket)",
}
"""InfluxDB's refusals in its own words (the server's excerpt follows, naming the database)."""


def _excerpt(response: Any) -> str:
    text: str = response.text.strip().replace("\n", " ")
    return text[:300] or "(empty answer)"
