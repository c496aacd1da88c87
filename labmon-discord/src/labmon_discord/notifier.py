"""Post alerts to a Discord webhook, owning the response policy (429, 204, non-JSON bodies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labmon import (
    Alert,
    Duration,
    RetryLater,
    Secret,
    TransientError,
    check_spans,
    check_status,
    redact,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import requests


PLOT_NAME = "plot.png"


@dataclass(frozen=True)
class DiscordConfig:
    """Options of the Discord notifier."""

    webhook_url: Secret
    username: str = "labmon"
    connect_timeout: Duration = Duration(5.0)
    timeout: Duration = Duration(15.0)

    def __post_init__(self) -> None:
        check_spans(self, connect_timeout="5s", timeout="15s")


DISCORD_MEANINGS = {
    401: "the webhook token was refused; check the webhook URL secret",
    403: "the webhook may not post there; check the webhook URL secret",
    404: "no such webhook (deleted in Discord?); make a new one and update the webhook URL secret",
}
"""Discord's refusals in its own words."""


class DiscordNotifier:
    """One message per alert, or per group of alerts; the webhook URL (a secret) never appears in an error or a log."""

    Config = DiscordConfig

    def __init__(self, config: DiscordConfig) -> None:
        self.config = config
        self.timeout: float = config.timeout

    def set_timeout(self, seconds: float) -> None:
        """Wait up to `seconds` for an answer from now on (labmon lengthens it after a try that ran out of it)."""
        self.timeout = seconds

    def notify(self, alert: Alert) -> None:
        """Post one alert; raise so that the outbox retries it or parks the notifier."""
        from labmon_discord.embed import alert_embed

        self._post("", [alert_embed(alert)])

    def notify_with_plot(self, alert: Alert, png: bytes) -> None:
        """Post one alert with the plot of its last hour as a file attachment shown in the embed."""
        from labmon_discord.embed import alert_embed

        embed = alert_embed(alert) | {"image": {"url": f"attachment://{PLOT_NAME}"}}
        self._post("", [embed], png)

    def notify_group(self, alerts: list[Alert]) -> None:
        """Post alerts raised together as one message of several embeds ("table3: 4 alerts"), within Discord's limits.

        More than 10 take several messages; if a later one fails, the retry posts the whole group again.
        """
        from labmon_discord.embed import group_messages

        measurers = {a.labels.get("measurer") or a.series.split("/")[0] for a in alerts}
        headline = f"{measurers.pop()}: {len(alerts)} alerts" if len(measurers) == 1 else f"{len(alerts)} alerts"
        for content, embeds in group_messages(headline, alerts):
            self._post(content, embeds)

    def _post(self, content: str, embeds: list[dict[str, Any]], png: bytes | None = None) -> None:
        import requests  # here, not at the top: only a collector that notifies loads the HTTP stack
        from discord_webhook import DiscordWebhook

        c = self.config
        webhook = DiscordWebhook(
            url=c.webhook_url,
            content=content or None,
            username=c.username[:80],
            timeout=(c.connect_timeout, self.timeout),
            allowed_mentions={"parse": []},
        )
        for embed in embeds:
            webhook.add_embed(embed)  # our own dicts, clipped to every Discord limit
        if png is not None:
            webhook.add_file(file=png, filename=PLOT_NAME)  # sent as multipart/form-data
        try:
            # api_post_request, not execute(): execute() parses every body as JSON (a 204 crashes it) and
            # runs its own 429 loop; the outbox owns retries.
            response = webhook.api_post_request()
        except requests.RequestException as exc:  # its text carries the URL, and so the token
            raise TransientError(redact(f"Discord unreachable: {type(exc).__name__}: {exc}", c.webhook_url)) from None
        if response.status_code == 429:
            raise RetryLater("Discord rate limit (HTTP 429)", _retry_after(response))
        check_status("Discord", response.status_code, meanings=DISCORD_MEANINGS)

    def close(self) -> None:
        """Nothing held open."""


def _retry_after(response: requests.Response) -> float:
    """Return Discord's retry_after (JSON body, seconds), else the Retry-After header, else 5s."""
    try:
        return float(response.json()["retry_after"])
    except (ValueError, KeyError, TypeError):
        return retry_after_seconds(response.headers.get("Retry-After")) or 5.0
