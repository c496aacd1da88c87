"""What sink and notifier plugins share: how an HTTP status maps to retry or park, and secret redaction."""

from __future__ import annotations

from labmon.kinds import PermanentError, RejectedError, RetryLater

GONE = {401: "the key or token was refused", 403: "access is forbidden", 404: "no such webhook or event", 410: "gone"}
DEFAULT_RETRY_AFTER = 30.0


class TransientError(Exception):
    """A failure worth retrying with backoff: a timeout, a refused connection, a 5xx."""


def check_status(service: str, status: int, *, retry_after: float | None = None) -> None:
    """Return for a 2xx; raise RetryLater (429), PermanentError (401/403/404/410), RejectedError or TransientError."""
    if 200 <= status < 300:
        return
    if status == 429:
        after = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        raise RetryLater(f"{service} rate limit (HTTP 429): retrying in {after:g}s", max(0.0, after))
    if status in GONE:
        raise PermanentError(f"{service} answered HTTP {status}: {GONE[status]}; check the secret in the config")
    if 400 <= status < 500 and status != 408:  # the item itself is wrong: set it aside, deliver the next
        raise RejectedError(f"{service} rejected the request (HTTP {status})")
    raise TransientError(f"{service} answered HTTP {status}")


def redact(text: str, *secrets: str) -> str:
    """Return `text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def retry_after_seconds(header: str | None) -> float | None:
    """Return a Retry-After header's delay in seconds, or None when absent or an HTTP date."""
    try:
        return float(header) if header else None
    except ValueError:
        return None
