"""The example Grafana dashboards' queries, with the macros and variables they use expanded as Grafana does."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from labmon import Batch, Reading, Result

GRAFANA = Path(__file__).parents[1] / "examples" / "grafana"
INTERVAL = "1m"
"""What Grafana's $__interval comes to on a 24-hour dashboard a thousand pixels wide (rounded)."""


MEASURERS = ["grafana1", "grafana2"]
"""The lab the dashboard tests write: grafana1 answers (a lock error and an oven that does not), grafana2 never."""


def cycles(now: float) -> list[Batch]:
    """Return two cycles of that lab, two minutes and one minute before `now`."""
    found = []
    for number, value in ((1, 0.05), (2, 0.06)):
        at = now - 180 + 60 * number
        readings = (
            Reading("lock_error", value, "V", instrument="laser1"),
            Reading("*", None, "", "error", "no answer within 5s", instrument="oven"),
        )
        found.append(Batch(number, at, (Result("q", "grafana1", at + 0.25, readings),), ("grafana2",)))
    return found


def unexpanded(query: str) -> list[str]:
    """Return the variables and macros left in an expanded query (none, or the test's expansion is short)."""
    return re.findall(r"\$\w+", query)


def queries(name: str) -> dict[str, str]:
    """Return every panel's query by title, and the measurer variable's as "$measurer"."""
    data = json.loads((GRAFANA / name).read_text())
    found = {}
    for panel in data["panels"]:
        (target,) = panel["targets"]
        found[panel["title"]] = target.get("expr") or target.get("rawSql") or target["query"]
    (variable,) = [v for v in data["templating"]["list"] if v["name"] == "measurer"]
    query = variable["query"]
    found["$measurer"] = query["query"] if isinstance(query, dict) else query
    return found


def promql(query: str, measurers: list[str]) -> str:
    """Expand a PromQL query: a multi-value variable in a regex matcher is an alternation."""
    return query.replace("$measurer", _alternation(measurers))


def influxql(query: str, measurers: list[str], start: float, end: float) -> str:
    """Expand an InfluxQL query: $timeFilter in epoch milliseconds, the variable as a regex alternation."""
    time_filter = f"time >= {round(start * 1000)}ms and time <= {round(end * 1000)}ms"
    expanded = query.replace("$timeFilter", time_filter).replace("$__interval", INTERVAL)
    return expanded.replace("$measurer", _alternation(measurers))


def sql(query: str, measurers: list[str], start: float, end: float) -> str:
    """Expand a PostgreSQL query: Grafana's time macros, the variable as a list of quoted strings."""

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def group(match: re.Match[str]) -> str:
        column, size = match[1], {"1h": 3600, "1m": 60}[match[2]]
        return f'floor(extract(epoch from {column})/{size})*{size} AS "time"'

    expanded = re.sub(r"\$__timeGroupAlias\((\w+), '(\w+)'\)", group, query)
    expanded = re.sub(r"\$__timeFilter\((\w+)\)", lambda m: f"{m[1]} BETWEEN '{iso(start)}' AND '{iso(end)}'", expanded)
    return expanded.replace("$measurer", ",".join(f"'{m}'" for m in measurers))


def _alternation(values: list[str]) -> str:
    return "(" + "|".join(re.escape(v) for v in values) + ")"
