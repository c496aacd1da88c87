"""What `labmon status` reports, as data: is the collector running, delivery, alerts, silences, and the exit code."""

from __future__ import annotations

from typing import Any

from labmon.config import CollectorConfig
from labmon.times import format_duration, iso
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.rules import with_builtin_rules
from labmon_collector.delivery.outbox import Outbox, TargetStatus, in_memory_targets
from labmon_collector.disk import free_bytes
from labmon_collector.diskalarm import severities

OK, WARNING, CRITICAL = 0, 1, 2
"""Exit codes in the monitoring-plugin convention (Nagios, Icinga, check_mk...)."""
NEARLY_FULL = 1_000_000
"""Free bytes below which SQLite may refuse a transaction: a collector may run without recording its cycles."""


def build_report(settings: CollectorConfig, now: float) -> dict[str, Any]:
    """Return everything `labmon status` shows, JSON-ready, with `exit`: 0 ok, 1 warning or pending, 2 critical."""
    outbox = Outbox(settings.data_dir / "outbox.sqlite")
    targets = outbox.status()
    outbox.close()
    store = AlertStore(settings.data_dir / "alerts.sqlite")
    states, _ = store.load()
    silences = store.silences(now)
    acks, escalated = store.acks(), store.escalated()
    facts = store.facts()
    store.close()
    rules = with_builtin_rules(settings.rules)
    severity = severities(rules)
    latching = {rule.name for rule in rules if rule.latch}
    held = {(rule, series): why for rule, series, why in facts.get("held_back", [])}
    windows = [w for w in settings.mute_windows if w.active(now)]
    free = free_bytes(settings.data_dir)
    disk = {"directory": str(settings.data_dir), "free": free, "min_free": settings.min_free}
    collector = _liveness(facts, settings, now, free, store.lag())
    alerts = [
        {
            "rule": rule,
            "series": series,
            "state": state.state,
            "severity": severity(rule, series),
            "since": state.since,
            "last_value": state.last_value,
            "unit": state.unit,
            "silenced": any(s.covers(series) for s in silences),
            "acknowledged": acks[rule, series].text() if (rule, series) in acks else None,
            "latched": rule in latching and state.state == "firing" and state.cleared_since is not None,
            "held_back": held.get((rule, series)),
            "muted": any(w.covers(series) for w in windows),
            "escalated": (rule, series) in escalated,
        }
        for (rule, series), state in sorted(states.items())
    ]
    # Unless it stopped cleanly (it writes them to the file then), a collector holds these targets' items in its
    # memory: the file's figures for them are not the truth (None: unknown here; the page and /metrics know).
    unknown = in_memory_targets(settings) if facts.get("stopped_at") is None else frozenset()
    delivery = [
        {
            "target": t.target,
            "in_memory": t.target in unknown,
            **_counts(t, known=t.target not in unknown),
            "dead_letters": t.dead,
            "resent": t.resent,
            "last_error": t.last_error,
            "paused": t.paused,
        }
        for t in targets
    ]
    loud = [a for a in alerts if not (a["silenced"] or a["muted"] or a["held_back"])]
    unheeded = [a for a in loud if a["state"] == "firing" and a["severity"] == "critical" and not a["acknowledged"]]
    critical = not collector["running"] or bool(unheeded)  # acknowledged: someone is on it, still a warning
    warning = bool(loud or collector["disconnected"] or any(d["paused"] or d["dead_letters"] for d in delivery))
    warning = warning or (free is not None and free < settings.min_free)
    return {
        "now": now,
        "collector": collector,
        "disk": disk,
        "failover": facts.get("failover") if settings.failover is not None else None,
        "delivery": delivery,
        "alerts": alerts,
        "silences": [{"id": s.id, "selector": s.selector, "ends": s.ends, "comment": s.comment} for s in silences],
        "mute_windows": mute_windows(settings, now),
        "exit": CRITICAL if critical else WARNING if warning else OK,
    }


def _counts(target: TargetStatus, *, known: bool) -> dict[str, Any]:
    """Return a target's backlog, oldest item, delivered and dropped counts from the file (None if not `known`)."""
    counts = {
        "backlog": target.backlog,
        "oldest": target.oldest,
        "delivered": target.delivered,
        "dropped": target.dropped,
    }
    return counts if known else dict.fromkeys(counts)


def _liveness(
    facts: dict[str, Any], settings: CollectorConfig, now: float, free: int | None, lag: float
) -> dict[str, Any]:
    """Say whether the collector runs: a clean stop is recorded; a killed or hung one stops completing cycles.

    `lag`: intervals by which the file's cycle time may trail a running collector's (it is written once per beat).
    """
    last, stopped = facts.get("last_cycle_at"), facts.get("stopped_at")
    interval = float(facts.get("interval", settings.interval))
    late = (2 + lag) * interval + settings.reply_timeout
    if stopped is not None:
        text = f"NOT RUNNING: stopped cleanly {format_duration(now - stopped)} ago"
    elif last is None and facts.get("started_at") is None:
        text = "NOT RUNNING: it has never run with this config"
    elif last is None:
        started = facts["started_at"]
        text = (
            f"starting ({format_duration(now - started)} ago)"
            if now - started <= late
            else "NOT RUNNING: no cycle ever completed"
        )
    elif now - last > late and free is not None and free < NEARLY_FULL:
        text = (
            f"NOT KNOWN: last cycle recorded {format_duration(now - last)} ago, but the data disk has {free} bytes"
            " free: a running collector cannot record its cycles (it keeps alerting from memory)"
        )
    elif now - last > late:
        text = f"NOT RUNNING: last cycle recorded {format_duration(now - last)} ago (killed or hung?)"
    else:
        text = f"running, last cycle recorded {format_duration(max(0.0, now - last))} ago"
    disconnected = facts.get("disconnected", {}) if not text.startswith("NOT") else {}
    return {
        "running": not text.startswith("NOT"),
        "text": text,
        "last_cycle_at": last,
        "stopped_at": stopped,
        "disconnected": {address: iso(since) for address, since in disconnected.items()},
        "clock_offsets": facts.get("clocks") or {},
    }


def render(report: dict[str, Any]) -> list[str]:
    """Return the report as the lines `labmon status` prints."""
    now = report["now"]
    collector = report["collector"]
    lines = [f"collector: {collector['text']}"]
    lines += [f"  collector cannot reach broker {a} since {since}" for a, since in collector["disconnected"].items()]
    lines += [
        f"  measurer {m}'s clock is {format_duration(abs(off))} {'ahead' if off > 0 else 'behind'}"
        " (its readings are filed on the collector's clock)"
        for m, off in collector["clock_offsets"].items()
    ]
    lines += failover_lines(report["failover"])
    disk = report["disk"]
    if disk["free"] is not None and disk["free"] < disk["min_free"]:
        lines.append(
            f"data disk: {disk['free']} bytes free on {disk['directory']}, below min_free = {disk['min_free']}"
        )
    lines.append("delivery")
    for d in report["delivery"]:
        age = format_duration(now - d["oldest"]) if d["oldest"] is not None else "-"
        state = f"PAUSED ({d['paused']})" if d["paused"] else "delivering" if collector["running"] else "waiting"
        figures = (
            "backlog, oldest, delivered, dropped: in the collector's memory (flush_every; see the page or /metrics)"
            if d["in_memory"]
            else f"backlog {d['backlog']:>6}  oldest {age:>8}  delivered {d['delivered']:>7}  dropped {d['dropped']:>5}"
        )
        lines.append(f"  {d['target']:<26} {figures}  dead {d['dead_letters']:>3}  {state}")
        if d["last_error"]:
            lines.append(f"      last error: {d['last_error']}")
        if d["resent"]:
            lines.append(f"      sent again after a restart, possibly repeats: {d['resent']}")
    if any(d["dead_letters"] for d in report["delivery"]):
        lines.append("  dead letters were rejected for good: labmon outbox list | retry | drop")
    stale = "" if collector["running"] else " (as of the last cycle)"
    lines.append(f"alerts{stale}" if report["alerts"] else "alerts: none pending or firing")
    for a in report["alerts"]:
        value = "-" if a["last_value"] is None else f"{a['last_value']:g} {a['unit']}".strip()
        held = a["held_back"] and f"held back: {a['held_back']}"
        flags = (
            "silenced" * a["silenced"],
            "muted" * a["muted"],
            "latched" * a["latched"],
            "escalated" * a["escalated"],
            a["acknowledged"],
            held,
        )
        notes = [n for n in flags if n]
        lines.append(
            f"  {a['rule']:<24} {a['series']:<36} {a['state'].upper():<8} since {format_duration(now - a['since']):>6}"
            f"  last {value}" + "".join(f" ({note})" for note in notes)
        )
    lines += silence_lines(report["silences"], now)
    lines += ["mute windows" if report["mute_windows"] else "mute windows: none"]
    lines += [f"  {'IN FORCE' if w['in_force'] else '':<9}{w['window']}" for w in report["mute_windows"]]
    return lines


def mute_windows(settings: CollectorConfig, now: float) -> list[dict[str, Any]]:
    """Return the configured mute windows, each as text and whether it is in force at `now`."""
    return [{"window": w.text(), "in_force": w.active(now)} for w in settings.mute_windows]


def silence_lines(silences: list[dict[str, Any]], now: float) -> list[str]:
    """Return the lines listing `silences`."""
    lines = ["silences" if silences else "silences: none"]
    lines += [
        f"  #{s['id']:<4} {s['selector']:<30} ends in {format_duration(s['ends'] - now):>6}  {s['comment']}"
        for s in silences
    ]
    return lines


def failover_lines(pair: dict[str, Any] | None) -> list[str]:
    """Return the lines saying which collector of a pair this is, the other's role, and any double notification."""
    if pair is None:
        return []
    others = ", ".join(f"{name} {role}" for name, role in sorted(pair["peers"].items())) or "none heard"
    lines = [f"failover: {pair['node']} is {pair['role'].upper()} since {iso(pair['since'])} (others: {others})"]
    lines += [f"  notified by both collectors: {double}" for double in pair["double_sent"]]
    return lines
