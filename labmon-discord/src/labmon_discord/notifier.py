"""Post alerts to a Discord webhook, owning the response policy (429, 204, non-JSON bodies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labmon import Alert, Duration, RetryLater, Secret, TransientError, check_status, redact, retry_after_seconds

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class DiscordConfig:
    """Options of the Discord notifier."""

    webhook_url: Secret
    username: str = "labmon"
    timeout: Duration = Duration(15.0)


class DiscordNotifier:
    """One message per alert; the webhook URL (a secret) never appears in an error or a log."""

    Config = DiscordConfig

    def __init__(self, config: DiscordConfig) -> None:
        self.config = config

    def notify(self, alert: Alert) -> None:
        """Post one alert; raise so that the outbox retries it or parks the notifier."""
        import requests  # here, not at the top: only a collector that notifies loads the HTTP stack
        from discord_webhook import DiscordWebhook

        from labmon_discord.embed import alert_embed

        webhook = DiscordWebhook(
            url=self.config.webhook_url,
            username=self.config.username,
            timeout=self.config.timeout,
            allowed_mentions={"parse": []},
        )
        webhook.add_embed(alert_embed(alert))
        try:
            # api_post_request, not execute(): execute() parses every body as JSON (a 204 crashes it) and
            # runs its own 429 loop; the outbox owns retries.
            response = webhook.api_post_request()
        except requests.RequestException as exc:
            raise TransientError(
                redact(f"Discord unreachable: {type(exc).__name__}: {exc}", self.config.webhook_url)
            ) from None
        if response.status_code == 429:
            raise RetryLater("Discord rate limit (HTTP 429)", _retry_after(response))
        check_status("Discord", response.status_code)

    def close(self) -> None:
        """Nothing held open."""


def _retry_after(response: requests.Response) -> float:
    """Return Discord's retry_after (JSON body, seconds), else the Retry-After header, else 5s."""
    try:
        return float(response.json()["retry_after"])
    except (ValueError, KeyError, TypeError):
        return retry_after_seconds(response.headers.get("Retry-After")) or 5.0
