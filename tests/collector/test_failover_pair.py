"""Two collectors' pair sides on a real Mosquitto: what each learns of the other's notifications."""

from labmon.config import BrokerConfig, FailoverConfig
from labmon.models import Alert
from labmon.testing import wait_until
from labmon.times import iso
from labmon_collector.failover.pair import Pair

ORDER = ["collector-a", "collector-b"]


def side(broker, node, **kept):
    return Pair(FailoverConfig(node, ORDER), BrokerConfig(broker.host, broker.port), 1.0, "t-pair", **kept)


def test_a_collector_back_from_a_kill_and_the_one_that_took_over_find_what_both_sent(own_broker):
    records = []
    gone = Alert("gone", "firing", "fo-0", "fo-0 is offline", at=1000.0)
    killed = side(own_broker, "collector-a", keep=records.append)
    killed.start()
    assert killed.to_send([gone]) == [gone]  # its word to the other lost: the other is not there
    killed.queued([gone])  # in its outbox (the collector says so once the held notification is released)
    killed.stop()
    other = side(own_broker, "collector-b")
    other.start()
    try:
        wait_until(other.linked, 10, "b linked")
        assert other.to_send([gone]) == [gone]  # b, taking over, sends what its engine saw and nobody told it of
        other.queued([gone])  # in b's outbox (the collector says so once the held notification is released)
        back = side(own_broker, "collector-a", saved={"failover_sent": records[-1]})
        back.start()
        try:
            # each says again what it sent to the other, back: each finds the double
            wait_until(lambda: other.facts()["double_sent"] and back.facts()["double_sent"], 10, "both find it")
            [said] = other.facts()["double_sent"]
            assert said.startswith("gone fo-0 firing at ") and back.facts()["double_sent"] == [said]
        finally:
            back.stop()
    finally:
        other.stop()


def test_the_other_holds_what_the_active_sends_as_unsure_until_its_outbox_has_it(own_broker):
    gone = Alert("gone", "firing", "fo-0", "fo-0 is offline", at=1000.0)
    active, standby = side(own_broker, "collector-a"), side(own_broker, "collector-b")
    for pair in (active, standby):
        pair.start()
    try:
        wait_until(lambda: active.linked() and standby.linked(), 10, "both linked")
        assert active.to_send([gone]) == [gone]
        wait_until(lambda: standby.ledger.unsure, 10, "b holds it as unsure")
        assert [said for said, _ in standby.ledger.unsure.values()] == [gone]  # as a worded it
        active.queued([gone])
        wait_until(lambda: not standby.ledger.unsure, 10, "a's outbox has it: no longer unsure")
        assert standby.notified_firing() == {("gone", "fo-0")}
    finally:
        active.stop()
        standby.stop()


def test_a_link_gone_dark_holds_the_notifications_up_one_beat_not_one_per_notification(own_broker):
    """The broker's acknowledgements are waited for together: ten unanswered must not hold the alerts ten beats."""
    import time

    from tests.collector.link import Link

    link = Link((own_broker.host, own_broker.port))
    dark = Pair(FailoverConfig("collector-a", ORDER), BrokerConfig("127.0.0.1", link.port), 4.0, "t-pair")
    dark.start()
    try:
        wait_until(dark.linked, 10, "a linked")
        link.stall()
        alerts = [Alert("gone", "firing", f"fo-{n}", f"fo-{n} is offline", at=1000.0) for n in range(10)]
        began = time.monotonic()
        assert dark.to_send(alerts) == alerts
        held = time.monotonic() - began
        assert held < 4 * dark.beat, f"held {held:.1f} s for a beat of {dark.beat:g} s"
    finally:
        link.close()
        dark.stop()


def test_a_beat_that_read_the_role_before_a_change_never_says_it_after_the_change(own_broker):
    """The role message is retained: a beat's old role said after the change would stand until the next beat."""
    import json
    import threading

    pair = side(own_broker, "collector-a")
    said, inside, go = [], threading.Event(), threading.Event()

    def publish(topic, payload, **how):
        if threading.current_thread().name == "beat" and not inside.is_set():
            inside.set()
            go.wait(10)  # the beat has read the role; its message is not handed over yet
        said.append(json.loads(payload)["role"])

    pair.client.publish = publish
    beat = threading.Thread(target=pair._say, args=(0,), name="beat")
    beat.start()
    assert inside.wait(10)
    with pair._lock:  # a change of role, as step() and sends() make it, then said
        pair.role = "active"
    change = threading.Thread(target=pair._say, args=(1,))
    change.start()
    change.join(0.5)  # a bound, not a synchronisation: either order of the two threads must end with "active"
    go.set()
    beat.join(10)
    change.join(10)
    assert said[-1] == "active", said


def test_a_cycle_that_sends_alerts_in_a_pair_commits_the_alert_store_no_more_than_one_alone(
    own_broker, write_config, tmp_path
):
    """The pair's record of what it sent goes with the cycle's one commit of facts, not in a commit of its own."""
    from labmon_collector.service import Collector
    from labmon_measurer.service import Measurer
    from tests.conftest import collector_table, measurer_table

    measurer = Measurer(write_config(measurer_table(own_broker, "pc-0"), "pc-0.toml"))
    measurer.start()
    rules = [{"name": "gone", "select": "pc-0", "offline": True, "for": "0s"}]
    failover = {"node": "collector-a", "order": ORDER}
    collectors = []
    for name, pair in (("alone", {}), ("paired", {"failover": failover})):
        table = collector_table(
            own_broker, ["pc-0"], interval="500ms", reply_timeout="300ms", data_dir=str(tmp_path / name),
            rules=rules, notifiers={"console": {"type": "console"}}, **pair,
        )  # fmt: skip
        collectors.append(Collector(write_config(table, f"{name}.toml"), announce=False))
    commits = {}
    try:
        for collector in collectors:
            collector.start()
        number = 0
        while not collectors[1].active:  # the pair's collector listens an interval before it takes the lead
            number += 1
            for collector in collectors:
                collector.run_cycle(number)
            assert number < 100, "the paired collector never became active"
        measurer.stop()
        for collector in collectors:
            firing = False
            while not firing:  # the measurer is offline: the alert fires and is sent
                number += 1
                assert number < 200, "the offline alert never fired"
                statements: list[str] = []
                collector.store._db.set_trace_callback(statements.append)
                collector.run_cycle(number)
                collector.store._db.set_trace_callback(None)
                firing = any(state.state == "firing" for state in collector.rules.states.values())
            commits[collector.pair is not None] = statements
        sent = None
        while not sent:  # kept by a cycle after the held notification's release put it in the outbox
            number += 1
            assert number < 300, "the pair's record never kept"
            collectors[1].run_cycle(number)
            sent = collectors[1].store.facts().get("failover_sent")
    finally:
        for collector in collectors:
            collector.stop(grace=0)
    assert sent[0][:3] == ["gone", "pc-0", "firing"]
    # Alone, the cycle's commits; paired, no commit that writes the pair's record and nothing else. (Not a count
    # beside alone's: the pulse, every sixth cycle, may fall on either's firing cycle and add its own commit.)
    assert "COMMIT" in commits[False] and "COMMIT" in commits[True], commits
    assert not [t for t in transactions(commits[True]) if t and all("failover_sent" in s for s in t)], commits


def transactions(statements: list[str]) -> list[list[str]]:
    """Return the writes of each transaction in a connection's statements (BEGIN ... COMMIT)."""
    found: list[list[str]] = []
    for statement in statements:
        if statement.startswith("BEGIN"):
            found.append([])
        elif found and statement != "COMMIT" and not statement.startswith("PRAGMA"):
            found[-1].append(statement)
    return found


def test_a_malformed_alert_said_as_sent_is_counted_and_never_sent_at_a_takeover(own_broker, caplog):
    """A takeover sends what the other said it sends as it is worded: one that is no alert of its own transition
    (a broken or hostile sender) would fail the takeover's cycle (the collector stops) or send something else."""
    import json
    import time

    from labmon.mqtt import BrokerClient

    def said(series, alert=None, state="firing", repeat=0, **wrong):
        """Return a message saying `series`' transition is sent now, its alert with `wrong` fields (or `alert`)."""
        at = time.time()  # news to b: said within the last three intervals
        alert = alert or {**Alert("gone", state, series, f"{series} is offline", at=at).to_dict(), **wrong}
        message = {"id": "x", "node": "collector-a", "key": ["gone", series, state], "repeat": repeat, "at": at}
        return json.dumps({**message, "queued": False, "alert": alert}).encode()

    standby = side(own_broker, "collector-b")
    standby.start()
    sender = BrokerClient(BrokerConfig(own_broker.host, own_broker.port), "t-pair-hostile")
    sender.start()
    try:
        wait_until(lambda: standby.linked() and sender.connected.is_set(), 10, "both linked")
        hostile = [  # each of its own transition: none replaces another in what b holds
            said("fo-1", rule=["gone"]),  # unhashable: the takeover's cycle failed on it
            said("fo-2", rule="other"),  # another alert than the transition it is said as
            said("fo-3", at="soon"),
            said("fo-4", labels={"kind": 1}),
            said("fo-5", state="bogus"),
            said("fo-6", since=float("inf")),
            said("fo-7", repeat=float("inf")),  # a traceback from the broker's thread before
            said("fo-8", "fo-8 is offline"),
            said("fo-9", extra=1),
        ]
        for payload in [*hostile, said("fo-0")]:  # in order, on one topic: the good one comes last
            sender.publish("labmon/failover/notified", payload)
        wait_until(lambda: ("gone", "fo-0", "firing", 0) in standby.ledger.unsure, 10, "b holds the good one")
        owed = standby.ledger.take_over(time.monotonic(), set())
        assert [(alert.rule, alert.series, alert.labels["possibly_repeat"]) for alert in owed] == [
            ("gone", "fo-0", "yes")
        ]
        assert standby.bad_input.count == len(hostile)
        assert not [record for record in caplog.records if record.exc_info], caplog.text  # no traceback
    finally:
        sender.stop()
        standby.stop()


def test_a_notification_killed_before_the_outbox_had_it_is_not_kept_as_sent(own_broker):
    """The record kept across a restart holds what the outbox has: a collector killed between saying it sends an
    alert and its outbox, back, must not say it sent it, or the other, which took over and sent it, counts a
    double that never was."""
    import time

    records = []
    lost, queued, both = (Alert("gone", "firing", f"fo-{n}", f"fo-{n} is offline", at=1000.0) for n in range(3))
    other = side(own_broker, "collector-b")
    other.start()
    killed = side(own_broker, "collector-a", keep=records.append)
    killed.start()
    try:
        wait_until(lambda: other.linked() and killed.linked(), 10, "both linked")
        assert killed.to_send([lost]) == [lost]  # held for "what changed before it": never in its outbox
        assert killed.to_send([queued]) == [queued]
        killed.queued([queued])
        heard = {("gone", "fo-0", "firing", 0)}  # fo-0 said as sent, fo-1 said as sent and then as queued
        wait_until(lambda: other.ledger.unsure.keys() == heard and ("gone", "fo-1") in other.ledger.notified, 10, "b")
        killed.stop()  # as killed: fo-0 never queued
        [owed] = other.ledger.take_over(time.monotonic(), set())  # b takes over and sends fo-0
        assert other.to_send([owed]) == [owed]
        other.queued([owed])
        assert other.to_send([both]) == [both]  # and fo-2, which a sent too (kept below): a double, counted
        [sent_at] = [at for key, at in other.ledger.mine if key[1] == "fo-2"]
        back = side(
            own_broker, "collector-a", saved={"failover_sent": [*records[-1], ["gone", "fo-2", "firing", 0, sent_at]]}
        )
        back.start()
        try:  # back, it says again what it sent, in order: fo-2 the last
            wait_until(lambda: other.ledger.doubles, 10, "b hears what a says again")
        finally:
            back.stop()
        assert other.ledger.double_sent == [f"gone fo-2 firing at {iso(sent_at)}"], other.ledger.double_sent
        assert [record[:4] for record in records[-1]] == [["gone", "fo-1", "firing", 0]]
    finally:
        other.stop()


def test_the_record_is_handed_to_keep_from_the_cycles_thread_not_the_releasing_one(own_broker):
    """The alert store takes the record (`later`) without a lock, in step with the cycle's note and save: handed
    from the thread that releases held notifications, it raced them."""
    import threading

    threads = []
    gone = Alert("gone", "firing", "fo-0", "fo-0 is offline", at=1000.0)
    active = side(own_broker, "collector-a", keep=lambda record: threads.append((threading.current_thread(), record)))
    active.start()
    try:
        assert active.to_send([gone]) == [gone]
        release = threading.Thread(target=active.queued, args=([gone],))
        release.start()
        release.join()
        active.step(set())  # the next cycle
    finally:
        active.stop()
    assert [(thread, [r[:4] for r in record]) for thread, record in threads] == [
        (threading.current_thread(), [["gone", "fo-0", "firing", 0]])
    ]
