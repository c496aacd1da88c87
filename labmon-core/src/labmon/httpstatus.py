"""What sink and notifier plugins share: how an HTTP status maps to retry or park, and secret redaction."""

from __future__ import annotations

import math
from collections.abc import Mapping

from labmon.kinds import PermanentError, RejectedError, RetryLater

SECRET_FIX = "check the secret in the config"
GONE = {
    401: f"the key or token was refused; {SECRET_FIX}",
    403: f"access is forbidden; {SECRET_FIX}",
    404: "not found; check the URL (and the secret, if it is part of it)",
    410: "gone; check the URL",
}
"""What these statuses mean when a plugin does not say it in its own words (`meanings`)."""
DEFAULT_RETRY_AFTER = 30.0


class TransientError(Exception):
    """A failure worth retrying with backoff: a timeout, a refused connection, a 5xx."""


def check_status(
    service: str, status: int, *, retry_after: float | None = None, meanings: Mapping[int, str] | None = None
) -> None:
    """Return for a 2xx; raise RetryLater (429), PermanentError (401/403/404/410), RejectedError or TransientError.

    `meanings`: the plugin's own words for a 401/403/404/410 (an InfluxDB 404 is a missing database, not a webhook).
    """
    if 200 <= status < 300:
        return
    if status == 429:
        after = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        raise RetryLater(f"{service} rate limit (HTTP 429): retrying in {after:g}s", max(0.0, after))
    if status in GONE:
        raise PermanentError(f"{service} answered HTTP {status}: {(meanings or GONE).get(status, GONE[status])}")
    if 400 <= status < 500 and status != 408:  # the item itself is wrong: set it aside, deliver the next
        raise RejectedError(f"{service} rejected the request (HTTP {status})")
    raise TransientError(f"{service} answered HTTP {status}")


MIN_PART = 6
"""A path segment or query value of a secret URL this long is treated as secret too (ids, tokens, keys)."""


def redact(text: str, *secrets: str) -> str:
    """Return `text` with every secret replaced by ***, in every form an error text may carry it.

    A secret URL also hides its path, its query, its password and each long path segment or query
    value, each also percent-encoded: a failed request's error names the path without the host.
    """
    forms = {form for secret in secrets if secret for form in _forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _forms(secret: str) -> set[str]:
    from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

    parts = urlsplit(secret)
    plain = {secret}
    if parts.scheme and parts.netloc:
        plain |= {parts.path, parts.query, parts.password or "", parts.path + "?" + parts.query}
        plain |= {segment for segment in parts.path.split("/") if len(segment) >= MIN_PART}
        plain |= {value for _, value in parse_qsl(parts.query) if len(value) >= MIN_PART}
    encoded = (
        {quote(form, safe="") for form in plain}
        | {quote(form) for form in plain}
        | {quote_plus(form) for form in plain}
    )
    lower = {form.lower() for form in encoded if "%" in form}
    return {form for form in plain | encoded | lower if len(form) >= MIN_PART or form == secret}


def retry_after_seconds(header: str | None) -> float | None:
    """Return a Retry-After header's delay in seconds (at least 0), or None when absent, NaN or an HTTP date."""
    try:
        seconds = float(header) if header else None
    except ValueError:
        return None
    return None if seconds is None or math.isnan(seconds) else max(0.0, seconds)
