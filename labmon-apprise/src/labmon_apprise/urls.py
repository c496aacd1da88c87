"""Apprise URLs from a secret: split them, name their service, and list what of them must never be shown."""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit

SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://")
SHORT = 4  # parts shorter than this are hidden only where they stand alone, so "u" does not turn "url" into "***rl"


def split_urls(text: str) -> list[str]:
    """Return the URLs in `text`: whitespace-separated, lines starting with # left out."""
    return [url for line in text.splitlines() if not line.strip().startswith("#") for url in line.split()]


def scheme_of(url: str) -> str | None:
    """Return the URL's scheme (`mailtos`, `json`, ...), which is safe to show, or None if it has none."""
    match = SCHEME.match(url)
    return match.group(1).lower() if match else None


def secret_parts(url: str) -> list[str]:
    """Return the URL and every part of it that could carry a secret, raw and decoded, longest first.

    Any part may be a token (`tgram://BOT_TOKEN/CHAT_ID`, `json://host/TOKEN`, `?pass=...`), so all are
    hidden: the user, password, host, each path segment, each query value and the fragment, and each item of a
    comma-separated list among them.
    """
    rest = SCHEME.sub("", url, count=1)
    split = urlsplit(f"x://{rest}")  # the netloc stays as written (`hostname` would lower-case a token)
    userinfo, _, hostport = split.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = re.sub(r":\d*$", "", hostport)
    values = [pair.partition("=")[2] for pair in re.split(r"[&;]", split.query)]
    fields = [user, password, host, *split.path.split("/"), *values, split.fragment]
    fields += [item for field in fields for item in field.split(",")]  # `to=a@x.org,b@x.org`
    raw = [url, rest, split.netloc, *fields]
    parts = {form(part) for part in raw for form in (str, unquote, unquote_plus)}
    return sorted((part for part in parts if part), key=len, reverse=True)


def redactor(urls: list[str]) -> re.Pattern[str]:
    """Return a pattern matching every secret part of `urls` (longest first), for `pattern.sub("***", text)`."""
    parts = sorted({part for url in urls for part in secret_parts(url)}, key=len, reverse=True)
    alone = r"(?<![A-Za-z0-9]){}(?![A-Za-z0-9])"
    return re.compile("|".join(re.escape(p) if len(p) >= SHORT else alone.format(re.escape(p)) for p in parts))
