"""A standby collector: two `labmon collector` processes on a real Mosquitto, the active one SIGKILLed."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import tomli_w

from labmon.config import BrokerConfig
from labmon.testing import Answer, ScriptedServer, wait_until
from tests.conftest import broker_table, invoke, measurer_table

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


def peer(data_dir, name):
    """Return what the collector of `data_dir` last said of collector `name` (None before it did)."""
    return ((facts(data_dir) or {}).get("peers") or {}).get(name)


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
    """Three measurers and a Discord stand-in; start(node) runs a collector of the pair as a process (on the
    measurers' broker unless told another)."""
    from labmon_measurer.service import Measurer

    names, measurers = ["fo-0", "fo-1", "fo-2"], {}
    for name in names:
        measurers[name] = Measurer(write_config(measurer_table(own_broker, name), f"{name}.toml"))
        measurers[name].start()
    processes = []
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")

        def start(node, broker=own_broker):
            data = tmp_path / node
            config = {
                "broker": broker_table(broker),
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
    nodes, data = both(start)
    active, standby = "collector-a", "collector-b"
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
        hears = lambda a=active, s=standby: peer(data[a], s) == "active"  # noqa: E731
        wait_until(hears, 30, f"round {n}: hears the active")
        assert role(data[standby]) == "active"  # no flapping
        active, standby = standby, active
        # Each transition at least once, at most one sent twice a takeover, and each sent twice said in `status`
        # (the one the killed collector sent: said by the other once it is back and says what it sent).
        sent = {(state, name): count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")}
        assert all(n <= times for times in sent.values()), (n, sent)
        extra = sum(sent.values()) - n * len(sent)
        assert extra <= n, (n, sent)
        wait_until(lambda e=extra: len(said(data)) >= e, 10, f"round {n}: each of {extra} sent twice said")
    again = sum(count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")) - 6 * ROUNDS
    print(f"{ROUNDS} takeovers: slowest {max(took):.2f} s, longest history gap {max(gaps):.2f} s, {again} sent twice")
    print(f"takeover times: {' '.join(f'{t:.2f}' for t in took)}; said sent twice: {sorted(said(data))}")
    assert max(took) <= 2 * INTERVAL, took
    assert max(gaps) <= 2 * INTERVAL, gaps
    assert len(said(data)) == again


def both(start, remote=None):
    """Start collector a, then (a active) collector b, on `remote` if given; return them once b hears a."""
    nodes = {"collector-a": start("collector-a")}
    a = nodes["collector-a"][1]
    wait_until(lambda: role(a) == "active", 60, "a active")
    nodes["collector-b"] = start("collector-b", *([remote] if remote else []))
    b = nodes["collector-b"][1]
    wait_until(lambda: role(b) == "standby" and peer(b, "collector-a") == "active", 60, "b hears a")
    return nodes, {node: process_data[1] for node, process_data in nodes.items()}


def said(data):
    """Return the transitions either collector says both sent."""
    return {double for node in data.values() for double in (facts(node) or {}).get("double_sent", [])}


@pytest.mark.timeout(120)
def test_a_frozen_active_is_replaced_within_two_intervals_and_steps_down_when_it_wakes(pair):
    start, _, discord, _ = pair
    nodes, data = both(start)
    frozen = nodes["collector-a"][0]
    frozen.send_signal(signal.SIGSTOP)  # as its network gone: connection open, nothing said, no Last Will
    stopped = time.time()
    wait_until(lambda: role(data["collector-b"]) == "active", 30, "b takes over")
    took = facts(data["collector-b"])["since"] - stopped
    frozen.send_signal(signal.SIGCONT)  # back, in the middle of the cycle it was in: both think they are active
    woke = time.time()
    wait_until(lambda: role(data["collector-a"]) == "standby", 30, "a steps down")
    stepped = facts(data["collector-a"])["since"] - woke
    print(f"a frozen active replaced in {took:.2f} s; awake again, it stepped down in {stepped:.2f} s")
    assert took <= 2 * INTERVAL, took
    assert stepped <= INTERVAL, stepped
    assert role(data["collector-b"]) == "active"
    assert [count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")] == [0] * 6


@pytest.mark.timeout(120)
def test_an_active_whose_broker_link_goes_dark_yields_sends_nothing_false_and_stays_standby_when_it_is_back(
    pair, own_broker
):
    """Collector a reaches the broker through a link the test stalls: connections open, nothing carried."""
    from tests.collector.link import Link

    start, _, discord, _ = pair
    link = Link((own_broker.host, own_broker.port))
    try:
        through = SimpleNamespace(host="127.0.0.1", port=link.port)
        nodes = {"collector-a": start("collector-a", through)}
        a = nodes["collector-a"][1]
        wait_until(lambda: role(a) == "active", 60, "a active")
        nodes["collector-b"] = start("collector-b")
        b = nodes["collector-b"][1]
        wait_until(lambda: peer(b, "collector-a") == "active", 60, "b hears a")
        link.stall()
        stalled = time.time()
        wait_until(lambda: role(b) == "active", 30, "b takes over")
        took = facts(b)["since"] - stalled
        wait_until(lambda: role(a) == "standby", 30, "a, hearing nothing back, yields")
        yielded = facts(a)["since"] - stalled
        link.flow()
        wait_until(lambda: peer(a, "collector-b") == "active", 30, "a hears b again")
        wait_until(lambda: peer(b, "collector-a") == "standby", 30, "b hears a again")
        print(f"a's link dark: b active in {took:.2f} s, a standby in {yielded:.2f} s")
        assert took <= 2 * INTERVAL, took
        assert role(a) == "standby" and role(b) == "active"
        # a, asking into the dark, found every measurer missing: it must not have said so
        assert [count(discord, state, name) for state in STATES for name in ("fo-0", "fo-1", "fo-2")] == [0] * 6
    finally:
        link.close()


BRIDGE = """
connection lab-bridge
address 127.0.0.1:{port}
topic labmon/# both 1
restart_timeout 1
keepalive_interval 5
notification_topic bridge/lab/state
notifications_local_only true
"""


@pytest.mark.timeout(180)
def test_a_pair_on_bridged_brokers_both_active_while_the_bridge_is_cut_is_one_again_within_an_interval(
    pair, own_broker
):
    """Collector b on a broker of its own, bridged to the measurers' (through a link the test cuts and heals)."""
    from labmon.mqtt import BrokerClient
    from labmon.testing import PrivateBroker
    from labmon_measurer.service import Measurer
    from tests.collector.link import Link

    start, measurers, discord, config_of = pair
    link = Link((own_broker.host, own_broker.port))
    with PrivateBroker(extra_config=BRIDGE.format(port=link.port)) as remote:
        bridge = []
        watcher = BrokerClient(BrokerConfig(remote.host, remote.port), "t-bridge-watch")
        watcher.subscribe("bridge/lab/state", lambda _, payload: bridge.append(payload))
        watcher.start()
        try:
            _, data = both(start, remote)
            a, b = data["collector-a"], data["collector-b"]
            wait_until(lambda: stored(b) >= 3, 30, "b stores the readings that come over the bridge")
            link.cut()
            cut = time.time()
            wait_until(lambda: role(b) == "active", 30, "b, apart, takes over")
            took = facts(b)["since"] - cut
            measurers.pop("fo-2").stop()  # while apart: a sees it go; b, cut off from every measurer, fires too
            wait_until(lambda: count(discord, "firing", "fo-2") >= 2, 30, "both notify fo-2")
            assert role(a) == "active"
            link.heal()
            wait_until(lambda: bridge and bridge[-1] == b"1", 30, "the bridge is back")
            healed = time.time()
            wait_until(lambda: role(b) == "standby", 30, "b steps down")
            stepped = facts(b)["since"] - healed
            doubled = lambda node: any(d.startswith("down fo-2 firing") for d in facts(node)["double_sent"])  # noqa: E731
            wait_until(lambda: doubled(a) and doubled(b), 10, "the double said by both")
            for node in data.values():
                status = invoke("status", str(node.parent / f"{node.name}.toml"))
                assert "notified by both collectors: down fo-2 firing at " in status.output, status.output
            measurers["fo-2"] = Measurer(config_of("fo-2"))
            measurers["fo-2"].start()
            for name in ("fo-0", "fo-1", "fo-2"):  # b's notices from behind the cut bridge are ended by a
                fired = count(discord, "firing", name)
                wait_until(lambda n=name, f=fired: f == 0 or count(discord, "resolved", n) >= 1, 30, f"{name} ends")
            print(f"bridge cut: b active in {took:.2f} s; healed: b standby in {stepped:.2f} s; said: {said(data)}")
            assert took <= 2 * INTERVAL, took
            assert stepped <= INTERVAL, stepped
            assert role(a) == "active"
        finally:
            watcher.stop()
            link.close()


def stored(data_dir):
    """Return how many cycles the collector of `data_dir` stored in its history."""
    try:
        with sqlite3.connect(data_dir / "history.sqlite") as db:
            return db.execute("SELECT COUNT(DISTINCT cycle_at) FROM readings").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0
