"""The example Grafana dashboards for VictoriaMetrics and InfluxDB 1.x: every panel's query, run against the
real store after the influx sink wrote a small lab into it, returns what the panel is meant to show."""

import json
import time
import urllib.parse

from labmon_influx.sink import InfluxConfig, InfluxSink
from tests.dashboards import MEASURERS, cycles, influxql, promql, queries, unexpanded
from tests.influx.conftest import get


def write(url: str, database: str, now: float) -> None:
    sink = InfluxSink(InfluxConfig(url=url, database=database))
    for batch in cycles(now):
        sink.write(batch)
    sink.close()


def victoria_query(victoria, query: str, now: float, *, instant: bool) -> list[dict]:
    """Answer `query` as Grafana asks it: an instant query, or a range over the last hour by minutes."""
    assert not unexpanded(query), query
    if instant:
        path, args = "query", {"query": query, "time": now}
    else:
        path, args = "query_range", {"query": query, "start": now - 3600, "end": now, "step": 60}
    status, body = get(f"{victoria.url}/api/v1/{path}?" + urllib.parse.urlencode(args))
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def test_every_victoriametrics_panel_shows_what_the_sink_wrote(victoria):
    now = time.time()
    write(victoria.url, "grafana", now)
    victoria.wait_for('labmon_ok{measurer=~"grafana.*"}', 3)
    panels = queries("labmon-victoriametrics.json")
    ask = {title: promql(query, MEASURERS) for title, query in panels.items()}

    (readings,) = victoria_query(victoria, ask["Readings"], now, instant=False)
    assert readings["metric"] | {"db": "grafana"} == {
        "__name__": "labmon_value", "db": "grafana",
        "measurer": "grafana1", "instrument": "laser1", "reading": "lock_error", "unit": "V",
    }  # fmt: skip
    assert float(readings["values"][-1][1]) == 0.06
    (errors,) = victoria_query(victoria, ask["Error readings"], now, instant=True)
    assert float(errors["value"][1]) == 1
    (silent,) = victoria_query(victoria, ask["Measurers not answering"], now, instant=True)
    assert silent["metric"]["measurer"] == "grafana2"
    (missed,) = victoria_query(victoria, ask["Missed replies per hour"], now, instant=False)
    assert missed["metric"] == {"measurer": "grafana2"}
    assert float(missed["values"][-1][1]) == 2
    match = ask["$measurer"].removeprefix("label_values(").removesuffix(", measurer)")
    status, body = get(f"{victoria.url}/api/v1/label/measurer/values?" + urllib.parse.urlencode({"match[]": match}))
    assert status == 200, body
    assert set(MEASURERS) <= set(json.loads(body)["data"])
    assert set(panels) == {
        "Readings",
        "Error readings",
        "Measurers not answering",
        "Missed replies per hour",
        "$measurer",
    }


def influx_rows(influx, query: str) -> list[dict]:
    """Return each point of the answer as a dict of its tags and columns."""
    assert not unexpanded(query), query
    series = influx.query(query, "grafana", epoch="s").get("series", [])
    return [s.get("tags", {}) | dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]


def test_every_influxdb_panel_shows_what_the_sink_wrote(influx):
    influx.query("CREATE DATABASE grafana")
    now = time.time()
    write(influx.url, "grafana", now)
    panels = queries("labmon-influxdb.json")
    ask = {title: influxql(query, MEASURERS, now - 86400, now) for title, query in panels.items()}

    readings = influx_rows(influx, ask["Readings"])
    assert {(r["measurer"], r["instrument"], r["reading"], r["unit"]) for r in readings} == {
        ("grafana1", "laser1", "lock_error", "V")
    }
    assert sorted(r["mean"] for r in readings) == [0.05, 0.06]
    (error,) = influx_rows(influx, ask["Error readings (latest of each)"])
    assert (error["measurer"], error["instrument"], error["reading"]) == ("grafana1", "oven", "*")
    assert error["error"] == "no answer within 5s"
    missed = influx_rows(influx, ask["Missed replies per hour"])
    assert {r["measurer"] for r in missed} == {"grafana2"}
    assert sum(r["count"] for r in missed) == 2
    values = influx.query(ask["$measurer"], "grafana")["series"][0]["values"]
    assert [value for _, value in values] == MEASURERS
    assert set(panels) == {"Readings", "Error readings (latest of each)", "Missed replies per hour", "$measurer"}
