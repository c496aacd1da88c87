"""Map what Apprise logged for the URLs that failed onto labmon's delivery contract: retry, wait or park."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labmon import PermanentError, RetryLater, TransientError, check_status

HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")  # Apprise's HTTP services: "Failed to send ...: Bad Request, error=400."
SMTP_REPLY = re.compile(r"\((\d{3}), b['\"]")  # smtplib's errors as Apprise logs them: "(535, b'5.7.8 ...')"
DETAIL = re.compile(r"^[A-Za-z ]*Exception: ")  # the debug line with the cause: "Socket Exception: ..."
QUIET_LEVELS = ("DEBUG", "TRACE", "INFO")
REASON_LIMIT = 600


@dataclass(frozen=True)
class Failure:
    """One URL that did not take the alert: its label (`url 2 (JSON)`) and what Apprise logged, secrets removed."""

    label: str
    lines: tuple[tuple[str, str], ...]  # (level, message)
    timed_out: bool = False

    @property
    def said(self) -> list[str]:
        """Return Apprise's warnings and errors for this URL and the exceptions behind them (not the payload)."""
        return [text for level, text in self.lines if level not in QUIET_LEVELS or DETAIL.match(text)]

    @property
    def reason(self) -> str:
        """Return what Apprise said, clipped."""
        text = " / ".join(self.said) or "Apprise gave no reason"
        return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


APPRISE_MEANINGS = {404: "no such webhook or endpoint; check that entry of the urls secret"}
"""A refusal of one of the services behind Apprise's URLs, in words for all of them."""


def error_for(failure: Failure, timeout: float) -> Exception:
    """Return the exception for one failed URL: an HTTP or SMTP status decides, anything else is retried."""
    if failure.timed_out:
        return TransientError(f"{failure.label}: no answer within {timeout:g}s")
    everything = "\n".join(failure.said)  # the payload lines hold the alert's own text: never read a status there
    if http := HTTP_STATUS.search(everything):
        try:
            check_status(failure.label, int(http.group(1)), meanings=APPRISE_MEANINGS)
        except RetryLater as exc:
            return RetryLater(f"{exc}; {failure.reason}", exc.after)
        except (PermanentError, TransientError) as exc:
            return type(exc)(f"{exc}; {failure.reason}")
    if smtp := SMTP_REPLY.search(everything):
        code = int(smtp.group(1))
        kind = PermanentError if 500 <= code < 600 else TransientError
        return kind(f"{failure.label}: the mail server answered {code}: {failure.reason}")
    return TransientError(f"{failure.label}: {failure.reason}")


def combined(failures: list[Failure], timeout: float, prefix: str = "") -> Exception:
    """Return one exception for all failed URLs: park if any needs a fix, else wait if asked, else retry."""
    errors = [error_for(failure, timeout) for failure in failures]
    message = prefix + "; ".join(str(error) for error in errors)
    if any(isinstance(error, PermanentError) for error in errors):
        return PermanentError(message)
    waits = [error.after for error in errors if isinstance(error, RetryLater)]
    return RetryLater(message, max(waits)) if waits else TransientError(message)
