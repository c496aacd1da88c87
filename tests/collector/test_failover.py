"""A standby collector: two `labmon collector` processes on a real Mosquitto, the active one SIGKILLed."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import tomli_w

from labmon.testing import Answer, ScriptedServer, wait_until
from tests.conftest import broker_table, measurer_table

INTERVAL = 1.0
REPLY = 0.5
STATES = ("firing", "resolved")
DISCORD_OK = Answer.json(200, {"id": "1"})


def facts(data_dir):
    """Return what the collector of `data_dir` last said of its failover role (None before it did)."""
    try:
        with sqlite3.connect(data_dir / "alerts.sqlite") as db:
            row = db.execute("SELECT value FROM collector WHERE key = 'failover'").fetchone()
    except sqlite3.OperationalError:  # not made yet
        return None
    return None if row is None else json.loads(row[0])


def role(data_dir):
    said = facts(data_dir)
    return None if said is None else said["role"]


def backlog(data_dir):
    """Return how many notifications the collector of `data_dir` has not yet confirmed delivered."""
    with sqlite3.connect(data_dir / "outbox.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM outbox WHERE target LIKE 'notifier:%'").fetchone()[0]


def told(server):
    """Return each notified transition as (title word, text), one per embed."""
    seen = []
    for request in server.requests:
        for embed in request.json().get("embeds", []):
            seen.append((embed["title"].split(":")[0], embed.get("description", "")))
    return seen


def count(server, state, measurer):
    return sum(1 for title, text in told(server) if (title == "RESOLVED") == (state == "resolved") and measurer in text)


@pytest.fixture
def pair(own_broker, write_config, tmp_path, monkeypatch):
    """Three measurers and a Discord stand-in; start(node) runs a collector of the pair as a process."""
    from labmon_measurer.service import Measurer

    names, measurers = ["fo-0", "fo-1", "fo-2"], {}
    for name in names:
        measurers[name] = Measurer(write_config(measurer_table(own_broker, name), f"{name}.toml"))
        measurers[name].start()
    processes = []
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")

        def start(node):
            data = tmp_path / node
            config = {
                "broker": broker_table(own_broker),
                "collector": {
                    "interval": f"{INTERVAL}s",
                    "reply_timeout": f"{REPLY}s",
                    "data_dir": str(data),
                    "measurers": names,
                    "sinks": {"history": {"type": "sqlite", "path": str(data / "history.sqlite")}},
                    "notifiers": {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}},
                    "rules": [
                        {"name": "gone", "select": "fo-0", "offline": True, "for": "0s"},
                        {"name": "slow", "select": "fo-1", "offline": True, "for": "4s"},
                        {"name": "down", "select": "fo-2", "offline": True, "for": "0s"},
                    ],
                    "failover": {"node": node, "order": ["collector-a", "collector-b"]},
                },
            }
            path = tmp_path / f"{node}.toml"
            path.write_text(tomli_w.dumps(config))
            command = [sys.executable, "-m", "labmon", "--log-level", "warning", "collector", str(path)]
            with open(tmp_path / f"{node}.log", "a") as log:
                process = subprocess.Popen(command, stderr=log)
            processes.append(process)
            return process, data

        yield start, measurers, discord, lambda name: write_config(measurer_table(own_broker, name), f"{name}.toml")
        for process in processes:
            process.kill()
            process.wait()
    for measurer in measurers.values():
        measurer.stop()


ROUNDS = int(os.environ.get("LABMON_TAKEOVERS", "2"))
"""Takeovers in a row: two here; `LABMON_TAKEOVERS=20` for the issue's twenty (about 15 s each)."""


@pytest.mark.timeout(60 + 30 * ROUNDS)
def test_sigkilled_actives_are_replaced_within_two_intervals_and_every_transition_is_told_once(pair):
    from labmon_measurer.service import Measurer

    start, measurers, discord, config_of = pair
    nodes = {"collector-a": start("collector-a"), "collector-b": start("collector-b")}
    data = {node: process_data[1] for node, process_data in nodes.items()}
    active, standby = "collector-a", "collector-b"
    wait_until(lambda: role(data[active]) == "active" and role(data[standby]) == "standby", 60, "a active, b standby")
    took, gaps = [], []

    def restart(name):
        measurers[name] = Measurer(config_of(name))
        measurers[name].start()

    def counted(state, name, n):
        return lambda: count(discord, state, name) >= n

    for n in range(1, ROUNDS + 1):
        measurers.pop("fo-0").stop()  # to resolve at the kill
        measurers.pop("fo-2").stop()  # firing at the kill
        wait_until(counted("firing", "fo-0", n), 30, f"round {n}: fo-0 fires")
        wait_until(counted("firing", "fo-2", n), 30, f"round {n}: fo-2 fires")
        # Delivered and confirmed: a kill between Discord's answer and the outbox's delete would deliver it
        # again when the collector restarts (the outbox is at least once), which this test is not about.
        wait_until(lambda a=active: backlog(data[a]) == 0, 30, f"round {n}: the firing alerts confirmed")
        measurers.pop("fo-1").stop()  # pending at the kill: `for` 4 s, counted by both
        restart("fo-0")  # resolving: the active or the standby says it
        nodes[active][0].send_signal(signal.SIGKILL)
        killed = time.time()
        nodes[active][0].wait()
        wait_until(lambda s=standby: role(data[s]) == "active", 30, f"round {n}: the standby takes over")
        took.append(facts(data[standby])["since"] - killed)
        wait_until(counted("firing", "fo-1", n), 30, f"round {n}: fo-1 fires after its `for`, not restarted")
        restart("fo-1")
        restart("fo-2")
        for name in ("fo-0", "fo-1", "fo-2"):
            wait_until(counted("resolved", name, n), 30, f"round {n}: {name} resolves")
        with sqlite3.connect(data[standby] / "history.sqlite") as db:
            cycles = [
                t for (t,) in db.execute("SELECT DISTINCT cycle_at FROM readings WHERE cycle_at > ?", (killed - 5,))
            ]
        gaps.append(max(later - earlier for earlier, later in itertools.pairwise(sorted(cycles))))
        nodes[active] = start(active)  # back: it stays standby
        wait_until(lambda a=active: role(data[a]) == "standby", 60, f"round {n}: back, as standby")
        hears = lambda a=active, s=standby: facts(data[a])["peers"].get(s) == "active"  # noqa: E731
        wait_until(hears, 30, f"round {n}: hears the active")
        assert role(data[standby]) == "active"  # no flapping
        active, standby = standby, active
        # Each transition at least once, and at most one sent twice a takeover (not said in `status` yet). One cause
        # is known: a kill between a notifier's answer and the outbox's delete sends it again on restart.
        sent = {(state, name): count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")}
        assert all(n <= times for times in sent.values()), (n, sent)
        assert sum(sent.values()) - n * len(sent) <= n, (n, sent)
    again = sum(count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")) - 6 * ROUNDS
    print(f"{ROUNDS} takeovers: slowest {max(took):.2f} s, longest history gap {max(gaps):.2f} s, {again} sent twice")
    assert max(took) <= 2 * INTERVAL + REPLY, took  # the goal is two intervals; a cycle on a loaded machine runs late
    assert max(gaps) <= 2 * INTERVAL, gaps
    assert facts(data[active])["double_sent"] == [] and facts(data[standby])["double_sent"] == []
