"""Fixtures of the status page's tests: a collector with its page on, polling sim measurers."""

import json
import shutil
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from labmon.broker import free_port
from labmon_collector.service import Collector
from tests.conftest import collector_table

# Locked for 3 s, unlocked for 3 s, again and again (the sim's clock starts when the measurer does).
BLINKING_LASER = {
    "type": "sim", "signal": "laser-lock", "reading": "lock_error", "unit": "V", "level": 0.05,
    "amplitude": 1.0, "unlock_every": "6s", "unlock_for": "3s",
}  # fmt: skip
STEADY_LASER = {"type": "sim", "signal": "laser-lock", "reading": "lock_error", "unit": "V", "level": 0.04}
RULE = {"name": "laser-unlocked", "select": "*/laser*/lock_error", "above": 0.5, "for": "0s"}


@dataclass
class RunningLab:
    """A collector running in a thread, its page's address and its measurer's name."""

    collector: Collector
    url: str
    measurer: str
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def laser(self) -> str:
        return f"{self.measurer}/laser1/lock_error"

    def run(self) -> threading.Thread:
        """Start the collector and its cycles in a thread."""
        self.collector.start()
        runner = threading.Thread(target=self.collector.run, kwargs={"stop": self.stopping})
        runner.start()
        return runner


def fetch(url: str, *, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET (or POST `data` as JSON) `url`; return the status and the decoded JSON (or text) body."""
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, raw, kind = answer.status, answer.read(), answer.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers["Content-Type"]
    return status, json.loads(raw) if kind == "application/json" else raw.decode()


@pytest.fixture
def start_lab(lab_with, broker, write_config):
    """Start a collector with its page (web settings as given) polling one measurer with a blinking laser."""
    started = []

    def start(**web: Any) -> RunningLab:
        (name,) = lab_with({"laser1": BLINKING_LASER, "laser2": STEADY_LASER})
        port = free_port()
        config = collector_table(
            broker, [name], interval="500ms", reply_timeout="300ms", notifiers={"console": {"type": "console"}},
            rules=[RULE], web={"listen": f"127.0.0.1:{port}", **web},
        )  # fmt: skip
        lab = RunningLab(Collector(write_config(config)), f"http://127.0.0.1:{port}", name)
        started.append((lab, lab.run()))
        return lab

    yield start
    for lab, runner in started:
        lab.stopping.set()
        runner.join()
        lab.collector.stop()


@pytest.fixture
def running_lab(start_lab):
    """A lab whose page is on with the defaults (loopback, no password)."""
    return start_lab()


# Chromium as root in a sandbox-less container, and no calls home (this machine's network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STEP = 30_000  # ms: a laser blink is 6 s; generous for a loaded machine


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors
