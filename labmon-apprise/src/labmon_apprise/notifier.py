"""Send alerts through Apprise to every URL of the secret, retrying only the URLs that failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from labmon import Alert, Duration, OptionError, Secret, TransientError
from labmon_apprise.urls import redactor, scheme_of, split_urls

log = logging.getLogger(__name__)
URLS_FIX = "one Apprise URL per line (or space-separated), e.g. mailtos://user:pass@example.org or ntfy://topic"
_SILENT = logging.NullHandler()


@dataclass(frozen=True)
class AppriseConfig:
    """Options of the Apprise notifier."""

    urls: Secret
    timeout: Duration = Duration(30.0)

    def __post_init__(self) -> None:
        if self.urls.unset:
            return  # loaded by a command that sends nothing
        urls = split_urls(self.urls)
        if not urls:
            raise OptionError("urls", "the secret holds no Apprise URL", URLS_FIX)
        for number, url in enumerate(urls, 1):
            if scheme_of(url) is None:
                raise OptionError("urls", f"entry {number} is not an Apprise URL (service://...)", URLS_FIX)


class AppriseNotifier:
    """One message per alert to each URL; no URL, nor any part of one, appears in an error or a log."""

    Config = AppriseConfig

    def __init__(self, config: AppriseConfig) -> None:
        _keep_apprise_log_to_itself()  # first: importing Apprise already logs
        import apprise  # here, not at the top: `labmon check` and `--help` must not load Apprise's 100+ services

        self.timeout: float = config.timeout
        urls = split_urls(config.urls)
        self._secrets = redactor(urls)
        self.apprise = apprise.Apprise(asset=apprise.AppriseAsset(app_id="labmon", app_desc="labmon alerts"))
        self.tags = {f"labmon-url-{number}": number for number in range(1, len(urls) + 1)}
        for (tag, number), url in zip(self.tags.items(), urls, strict=True):
            if not self.apprise.add(url, tag=tag):
                raise ValueError(
                    f"urls entry {number} ({scheme_of(url)}://...): Apprise cannot use it (an unknown service, or a "
                    "part the service needs is missing); see https://github.com/caronc/apprise/wiki"
                )
        self._alert: Alert | None = None
        self._delivered: set[str] = set()

    def notify(self, alert: Alert) -> None:
        """Send one alert to every URL that has not taken it yet; raise so that the outbox retries or parks."""
        self._send(alert, None)

    def notify_with_plot(self, alert: Alert, png: bytes) -> None:
        """Send one alert with its last hour's plot attached (an image in an e-mail; other services: the text)."""
        from apprise.attachment.memory import AttachMemory

        plot = AttachMemory(content=png, name="plot.png", mimetype="image/png")  # type: ignore[no-untyped-call]
        self._send(alert, plot)

    def _send(self, alert: Alert, attachment: object | None) -> None:
        from apprise import AppriseResultStatus

        from labmon_apprise.message import body, notify_type, title
        from labmon_apprise.outcome import Failure, combined

        if alert != self._alert:  # a new alert: a retry of the same one skips the URLs that already took it
            self._alert, self._delivered = alert, set()
        pending = [tag for tag in self.tags if tag not in self._delivered]
        result = self.apprise.notify(
            body=body(alert),
            title=title(alert),
            notify_type=notify_type(alert),
            body_format="text",
            tag=pending,
            attach=attachment,
            timeout=self.timeout,
            log_level=logging.DEBUG,
        )
        failures = []
        for service in result:
            tag = next(tag for tag in service.tag if tag in self.tags)
            label = f"url {self.tags[tag]} ({service.name})"
            lines = tuple((entry.level, self._redact(entry.message)) for entry in service.logs())
            for level, text in lines:
                log.debug("%s: [%s] %s", label, level, text)
            if service:
                self._delivered.add(tag)
            else:
                failures.append(Failure(label, lines, timed_out=service.status == AppriseResultStatus.TIMEOUT))
        if failures:
            took = f"{len(self._delivered)} of {len(self.tags)} URLs have it (not sent again); "
            raise combined(failures, self.timeout, took if self._delivered else "")
        if len(self._delivered) < len(self.tags):  # no URL failed, yet not all took it: the call itself failed
            said = " / ".join(self._redact(entry.message) for entry in result.call_logs())
            raise TransientError(f"Apprise sent nothing: {said or 'no reason given'}")
        self._alert = None

    def _redact(self, text: str) -> str:
        return self._secrets.sub("***", text)

    def set_timeout(self, seconds: float) -> None:
        """Wait up to `seconds` for an answer from now on (labmon lengthens it after a try that ran out of it)."""
        self.timeout = seconds

    def close(self) -> None:
        """Nothing held open."""


def _keep_apprise_log_to_itself() -> None:
    """Stop Apprise's own log records from reaching labmon's handlers: at debug they hold URLs and tokens.

    Each call captures them instead (Apprise's per-call log capture) and passes them on, redacted.
    """
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = False
    apprise_log.setLevel(logging.DEBUG)  # the capture keeps only records the logger lets through
    if _SILENT not in apprise_log.handlers:
        apprise_log.addHandler(_SILENT)  # without a handler Python would print warnings to stderr itself
