"""The page a lab lives in, in real Chromium: never stale, never hiding a peak, 500 series, URLs, a phone."""

import gzip
import json
import math
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labmon.broker import free_port
from labmon.config import WebConfig
from labmon.models import Batch, Reading, Result
from labmon_collector.alerting.alertstore import AlertStore, SeriesState
from labmon_collector.alerting.events import EventLog
from labmon_collector.history.writer import HistoryConfig, HistorySink
from labmon_collector.web.server import WebServer
from labmon_collector.web.view import LabView
from tests.conftest import collector_table
from tests.web.conftest import STEP, RunningLab

DAY = 86400.0
PHONE = {"width": 390, "height": 844}


@dataclass
class FileLab:
    """A page served from a collector's files alone, as `labmon web` does, with alert states of our choosing."""

    url: str
    store: AlertStore
    data: Path


@pytest.fixture
def file_lab(broker, tmp_path, write_config):
    """Start a page on files: `measurers` names, `batches` written to the history, `states` as the alert state."""
    servers: list[tuple[WebServer, AlertStore, EventLog]] = []

    def start(measurers: list[str], batches: list[Batch], states: dict[tuple[str, str], SeriesState] | None = None,
              rules: list[dict[str, Any]] | None = None, interval: str = "10s") -> FileLab:  # fmt: skip
        config = collector_table(
            broker,
            measurers,
            interval=interval,
            data_dir=str(tmp_path / "data"),
            rules=rules or [],
            notifiers={"console": {"type": "console"}},
        )
        settings = write_config(config).collector
        sink = HistorySink(HistoryConfig(path=tmp_path / "history.sqlite"))
        for one in batches:
            sink.write(one)
        sink.close()
        store, events = AlertStore(settings.data_dir / "alerts.sqlite"), EventLog(settings.data_dir / "events.sqlite")
        view = LabView(settings, store, events, (lambda: dict(states)) if states is not None else None)
        server = WebServer(view, WebConfig(f"127.0.0.1:{free_port()}"))
        assert server.start()
        servers.append((server, store, events))
        return FileLab(server.url.rstrip("/"), store, settings.data_dir)

    yield start
    for server, store, events in servers:
        server.stop()
        store.close()
        events.close()


def readings(measurer: str, t: float, values: dict[str, float | None], unit: str = "V") -> Result:
    """One measurer's answer: instrument/reading -> value (None: an error reading)."""
    found = []
    for key, value in values.items():
        instrument, name = key.split("/")
        status, error = ("ok", None) if value is not None else ("error", "timeout")
        found.append(Reading(name, value, unit, status, error, instrument))
    return Result("q", measurer, t, tuple(found))


def overflow(page) -> int:
    """Return how many pixels the page is wider than the screen."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


# 1. Never stale-as-live


def test_a_page_that_cannot_reach_the_collector_says_so_and_greys_every_tile(running_lab: RunningLab, page):
    page.goto(running_lab.url + "/")
    tile = page.locator(f'a.tile[data-series="{running_lab.measurer}/laser2/lock_error"]')
    tile.wait_for(timeout=STEP)
    assert page.locator("#banner").is_hidden()
    running_lab.stopping.set()
    running_lab.collector.web.stop()  # the collector's page goes away with it
    banner = page.locator("#banner", has_text="Cannot reach the collector")
    banner.wait_for(timeout=STEP)
    assert "Last cycle" in banner.inner_text()
    assert page.evaluate("() => document.body.classList.contains('stale')")
    assert "grayscale" in tile.evaluate("node => getComputedStyle(node).filter")
    age = tile.locator(".age")
    first = age.inner_text()
    page.wait_for_function(f"() => document.querySelector('a.tile .age').textContent !== {json.dumps(first)}",
                           timeout=STEP)  # fmt: skip
    assert age.inner_text().endswith("ago")


def test_labmon_web_on_the_files_of_a_stopped_collector_says_it_stopped(file_lab, page):
    now = time.time()
    lab = file_lab(["table1"], [Batch(1, now - 600, (readings("table1", now - 600, {"oven/temp": 20.5}),), ())])
    lab.store.note(started_at=now - 3600, last_cycle_at=now - 600, stopped_at=now - 590)
    page.goto(lab.url + "/")
    page.locator("#banner", has_text="Collector stopped since").wait_for(timeout=STEP)
    page.goto(lab.url + "/measurers")
    page.locator("#banner", has_text="Collector stopped since").wait_for(timeout=STEP)
    assert page.locator("#measurers td", has_text="unknown").count() == 1
    assert page.locator("#measurers td", has_text="offline").count() == 0


def test_a_collector_late_by_more_than_two_intervals_is_called_late(file_lab, page):
    now = time.time()
    lab = file_lab(["table1"], [Batch(1, now - 35, (readings("table1", now - 35, {"oven/temp": 20.5}),), ())])
    lab.store.note(started_at=now - 3600, last_cycle_at=now - 35, stopped_at=None)  # interval 10 s
    page.goto(lab.url + "/")
    page.locator("#banner", has_text="The collector is late").wait_for(timeout=STEP)
    assert "Last cycle" in page.locator("#banner").inner_text()
    lab.store.note(last_cycle_at=time.time())  # it catches up: the banner goes at the next poll
    page.locator("#banner").wait_for(state="hidden", timeout=STEP)


def test_the_page_says_whose_clock_is_off_and_which_of_a_pair_this_collector_is(file_lab, page):
    now = time.time()
    lab = file_lab(["table1"], [Batch(1, now - 5, (readings("table1", now - 5, {"oven/temp": 20.5}),), ())])
    double = "gone fo-0 firing at 2026-12-07T17:00:00.000+00:00"
    failover = {"node": "collector-b", "role": "standby", "since": now - 60, "peers": {}, "double_sent": [double]}
    lab.store.note(last_cycle_at=now, stopped_at=None, clocks={"table1": -259200.0}, failover=failover)
    page.goto(lab.url + "/")
    notice = page.locator("#notices", has_text="This collector (collector-b) is standby.")
    notice.wait_for(timeout=STEP)
    said = "Measurer table1's clock is 3 d behind; its readings are filed on the collector's clock."
    assert said in notice.inner_text()
    assert f"Notified by both collectors of the pair: {double}." in notice.inner_text()


# 2. Never hide a peak


def spiky_month(now: float) -> list[Batch]:
    """Thirty days every 30 min at 0.05 V, an unlock to 1.0 V once a day, six hours without an answer on day 10."""
    out = []
    for i in range(int(30 * DAY / 1800)):
        t = now - 30 * DAY + i * 1800
        if 480 <= i < 492:
            out.append(Batch(i, t, (), ("table1",)))
            continue
        value = 1.0 if i % 48 == 20 else 0.05 + 0.01 * math.sin(i)
        out.append(Batch(i, t, (readings("table1", t, {"laser1/lock_error": value}),), ()))
    return out


def test_a_month_plot_draws_the_min_max_band_and_its_axis_covers_every_peak(file_lab, page):
    rule = {"name": "unlocked", "select": "*/laser1/lock_error", "above": 0.5}
    lab = file_lab(["table1"], spiky_month(time.time()), rules=[rule])
    page.goto(lab.url + "/series?s=table1/laser1/lock_error&range=30d")
    page.locator("#plot canvas").wait_for(timeout=STEP)
    box = page.locator("#plot")
    assert box.get_attribute("data-resolution") == "7200"
    means = page.evaluate("() => window.labmonPlot.data[1].filter(v => v != null)")
    highs = page.evaluate("() => window.labmonPlot.data[3].filter(v => v != null)")
    assert max(means) < 0.5 and max(highs) == pytest.approx(1.0)  # the mean alone hides every unlock
    top = page.evaluate("() => window.labmonPlot.scales.y0.max")
    assert top >= 1.0
    assert page.evaluate("() => window.labmonPlot.bands.length") == 1
    assert page.evaluate("() => window.labmonPlot.data[1].some(v => v == null)")  # no answer: a gap
    # hover over the bucket with a peak: the legend shows its mean, min and max with units
    peak = page.evaluate("() => window.labmonPlot.data[3].findIndex(v => v != null && v > 0.9)")
    page.evaluate(
        f"() => {{ const u = window.labmonPlot; u.setCursor({{left: u.valToPos(u.data[0][{peak}], 'x'), top: 10}}); }}"
    )
    legend = page.locator(".u-legend").inner_text()
    assert "min" in legend and "max" in legend and "mV" in legend and "1 V" in legend, legend


# 3. Usable at 500 series


def big_lab(now: float) -> tuple[list[str], list[Batch]]:
    names = [f"rack{i:02d}" for i in range(50)]
    batches = []
    for cycle in range(5):
        t = now - 40 + cycle * 10
        answers = tuple(readings(m, t, {f"dev{j}/v{j}": 0.01 * j + 1e-3 * cycle for j in range(10)}) for m in names)
        batches.append(Batch(cycle, t, answers, ()))
    return names, batches


FIRING = {
    ("hot", "rack37/dev3/v3"): SeriesState("firing", 100.0),
    ("hot", "rack41/dev5/v5"): SeriesState("firing", 100.0),
    ("warm", "rack02/dev1/v1"): SeriesState("pending", 100.0),
}


def test_500_series_firing_first_grouped_filtered_and_counted(file_lab, page):
    names, batches = big_lab(time.time())
    lab = file_lab(names, batches, dict(FIRING))
    lab.store.note(last_cycle_at=time.time())
    page.goto(lab.url + "/")
    page.locator("a.tile").nth(499).wait_for(state="attached", timeout=STEP)
    first = [page.locator("a.tile").nth(i).get_attribute("data-series") for i in range(3)]
    assert first == ["rack37/dev3/v3", "rack41/dev5/v5", "rack02/dev1/v1"]
    assert page.title() == "(2) labmon"
    assert "2 firing · 1 pending · 500 series" in page.locator("#counts").inner_text()
    assert page.locator("details[data-measurer]").count() == 50
    page.locator('details[data-measurer="rack05"] summary').click()
    assert page.locator('details[data-measurer="rack05"] a.tile').first.is_hidden()
    page.fill("#filter", "rack1?/dev2")
    page.wait_for_function("() => document.querySelectorAll('#groups a.tile').length === 10", timeout=STEP)
    assert "filter" not in page.url and "q=rack1%3F%2Fdev2" in page.url
    page.fill("#filter", "rack[z-a]")  # no selector: nothing matches, the box says so, nothing breaks
    page.wait_for_function("() => document.querySelectorAll('#groups a.tile').length === 0", timeout=STEP)
    assert page.get_attribute("#filter", "aria-invalid") == "true"
    page.fill("#filter", "")
    # the next poll brings only what changed: nothing here
    since = page.evaluate("() => overviewState.since")
    status, body, encoding = get(lab.url + "/api/overview?since=" + since)
    assert status == 200 and json.loads(body)["tiles"] == [] and len(json.loads(body)["keys"]) == 500
    status, body, encoding = get(lab.url + "/api/overview")
    assert encoding == "gzip" and len(body) > 10 * len(gzip.compress(body))  # (sent compressed)


def get(url: str) -> tuple[int, bytes, str]:
    """GET `url` as a browser does (gzip accepted); return the status, the decoded body and its encoding."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        raw, encoding = answer.read(), answer.headers.get("Content-Encoding", "")
    return answer.status, gzip.decompress(raw) if encoding == "gzip" else raw, encoding


def test_a_poll_keeps_keyboard_focus_and_the_tiles_in_place(file_lab, page):
    names, batches = big_lab(time.time())
    lab = file_lab(names[:3], batches, interval="2s")
    lab.store.note(last_cycle_at=time.time())
    page.goto(lab.url + "/")
    tile = page.locator('a.tile[data-series="rack01/dev4/v4"]')
    tile.focus()
    page.evaluate("() => { window.marked = document.activeElement; }")
    before = page.evaluate("() => document.getElementById('updated').textContent")
    page.wait_for_function(
        f"() => document.getElementById('updated').textContent !== {json.dumps(before)}", timeout=STEP
    )
    assert page.evaluate("() => document.activeElement === window.marked && window.marked.isConnected")


# 4. Plots a physicist reads


def two_series(now: float) -> list[Batch]:
    out = []
    for i in range(120):
        t = now - 3600 + i * 30
        laser = readings("table1", t, {"laser1/lock_error": 2e-6 * (1 + math.sin(i / 9))})
        room = readings("table2", t, {"room/temperature": 21.0 + 0.1 * math.cos(i / 20)}, unit="degC")
        out.append(Batch(i, t, (laser, room), ()))
    return out


def test_the_series_page_keeps_its_state_in_the_url_zooms_and_overlays(file_lab, page, tmp_path):
    lab = file_lab(["table1", "table2"], two_series(time.time()))
    page.goto(lab.url + "/series?s=table1/laser1/lock_error&range=1h")
    page.locator("#plot canvas").wait_for(timeout=STEP)
    # the axis's own `values` option (public uPlot API) on the splits of a 1-3 µV axis
    ticks = page.evaluate(
        "() => { const p = window.labmonPlot; return p.axes[1].values(p, [1e-6, 2e-6, 3e-6], 1, 1e-6) }"
    )
    assert any(t.endswith("µV") for t in ticks), ticks  # SI prefixes on the axis, with the unit
    assert page.locator('#ranges button[aria-pressed="true"]').inner_text().endswith("1h")
    page.evaluate("() => { window.firstPlot = window.labmonPlot; }")
    before = page.evaluate("() => document.getElementById('updated').textContent")
    page.wait_for_function(
        f"() => document.getElementById('updated').textContent !== {json.dumps(before)}", timeout=STEP
    )
    assert page.evaluate("() => window.labmonPlot === window.firstPlot")  # a poll updates the plot in place
    assert page.locator("#known-series option").count() == 2
    page.locator("#overlay input").fill("table2/room/temperature")
    page.locator("#overlay button").click()
    page.locator('#plot[data-series="2"]').wait_for(timeout=STEP)
    assert page.url.count("s=") == 2
    assert page.evaluate("() => window.labmonPlot.axes.filter(a => a.scale && a.scale.startsWith('y')).length") == 2
    # wheel zoom on the plot: an absolute range in the URL; zoom out: back to the previous URL
    before = page.url
    page.locator("#plot .u-over").hover()
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => location.search.includes('from=')", timeout=STEP)
    page.locator("#zoom-out").click()
    page.wait_for_function(f"() => location.href === {json.dumps(before)}", timeout=STEP)
    page.locator("#plot").press("ArrowLeft")  # keyboard pan: half a range earlier
    page.wait_for_function("() => location.search.includes('from=')", timeout=STEP)
    span = page.evaluate(
        "() => { const q = new URLSearchParams(location.search); return [q.get('from'), q.get('to')]; }"
    )
    assert int(span[1]) - int(span[0]) == pytest.approx(3600, abs=2) and int(span[1]) < time.time() - 1700
    page.locator("#zoom-out").click()
    page.wait_for_function(f"() => location.href === {json.dumps(before)}", timeout=STEP)
    page.locator("#log").check()
    page.wait_for_function("() => location.search.includes('log=1')", timeout=STEP)
    assert page.evaluate("() => window.labmonPlot.scales.y0.distr") == 3
    page.reload()
    page.locator('#plot[data-series="2"]').wait_for(timeout=STEP)
    assert page.locator("#log").is_checked()
    # the from-to picker
    page.fill("#picker input[name=from]", "2026-01-01T10:00")
    page.fill("#picker input[name=to]", "2026-01-01T12:00")
    page.locator("#picker button").click()
    page.wait_for_function("() => location.search.includes('from=') && location.search.includes('to=')", timeout=STEP)


PINCH = """() => {
  const over = window.labmonPlot.over, box = over.getBoundingClientRect(), y = box.top + box.height / 2;
  const touches = (gap) => [0, 1].map((i) => new Touch({ identifier: i, target: over, clientY: y,
    clientX: box.left + box.width / 2 + (i ? gap : -gap) }));
  const send = (type, gap) =>
    over.dispatchEvent(new TouchEvent(type, { touches: touches(gap), bubbles: true, cancelable: true }));
  send("touchstart", 40);
  send("touchmove", 80);
  send("touchmove", 160);
}"""


def test_a_pinch_on_a_phone_zooms_in(file_lab, browser):
    lab = file_lab(["table1", "table2"], two_series(time.time()))
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.goto(lab.url + "/series?s=table1/laser1/lock_error&range=1h")
    phone.locator("#plot canvas").wait_for(timeout=STEP)
    phone.evaluate(PINCH)
    phone.wait_for_function("() => location.search.includes('from=')", timeout=STEP)
    span = phone.evaluate(
        "() => { const q = new URLSearchParams(location.search); return q.get('to') - q.get('from'); }"
    )
    assert span < 3600 / 2  # spread the fingers four times apart: a quarter of the hour, give or take the edge
    context.close()


def test_an_instrument_link_loads_the_list_of_its_series(file_lab, page):
    lab = file_lab(["table1", "table2"], two_series(time.time()))
    page.goto(lab.url + "/series?s=table1/laser1")
    page.locator("#children a", has_text="table1/laser1/lock_error").wait_for(timeout=STEP)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("collector/disk/free", "not stored in the history"),
        ("table1/laser9/gone", "has no such series"),
        ("table1/disk/free", "has no such series"),  # a measurer's instrument named disk: not the collector's
    ],
)
def test_a_series_the_history_does_not_hold_is_said_so_not_an_unreachable_collector(file_lab, page, key, said):
    now = time.time()
    lab = file_lab(["table1"], two_series(now))
    lab.store.note(started_at=now - 60, last_cycle_at=now, stopped_at=None)
    page.goto(f"{lab.url}/series?s={key}")
    page.locator("#children p.about", has_text=said).wait_for(timeout=STEP)
    page.locator("#updated", has_text="updated").wait_for(timeout=STEP)
    assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()
    assert page.locator("#plot").is_hidden()


def test_the_alert_history_is_paged(file_lab, page):
    now = time.time()
    lab = file_lab(["table1"], [Batch(1, now, (readings("table1", now, {"oven/temp": 1.0}),), ())])
    events = EventLog(lab.data / "events.sqlite")
    for i in range(130):
        state = SeriesState("firing" if i % 2 else "inactive", now - 1000 + i)
        events.record({("hot", "table1/oven/temp"): "inactive" if i % 2 else "firing"},
                      {("hot", "table1/oven/temp"): state}, [], now - 1000 + i)  # fmt: skip
    events.close()
    page.goto(lab.url + "/alerts")
    page.locator("#events tbody tr").nth(99).wait_for(timeout=STEP)
    total = json.loads(get(lab.url + "/api/events?since=1d&limit=1")[1])["total"]
    more = page.locator("#more")
    assert total > 100 and more.inner_text().startswith(f"{total - 100} more")
    more.click()
    page.locator("#events tbody tr").nth(total - 1).wait_for(timeout=STEP)
    assert more.is_hidden()


@pytest.mark.parametrize(
    "path", ["/", "/alerts", "/measurers", "/series?s=table1/laser1/lock_error&s=table2/room/temperature"]
)
def test_a_phone_never_scrolls_sideways_and_every_input_has_a_label(file_lab, browser, path):
    lab = file_lab(["table1", "table2"], two_series(time.time()))
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = context.new_page()
    phone.goto(lab.url + path)
    phone.locator("#app > :not(p.muted)").first.wait_for(timeout=STEP)
    phone.wait_for_function("() => document.getElementById('updated').textContent !== ''", timeout=STEP)
    assert overflow(phone) <= 0
    unlabelled = phone.evaluate(
        "() => [...document.querySelectorAll('input')]"
        ".filter(i => !i.labels.length && !i.getAttribute('aria-label')).map(i => i.outerHTML)"
    )
    assert unlabelled == []
    assert phone.evaluate(CONTRAST) == []
    context.close()


CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(linear)
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (node) => {
    for (; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length < 4 || c[3] > 0.9) return c;
    }
    return [17, 20, 24];
  };
  const bad = [];
  for (const node of document.querySelectorAll("body *")) {
    if (![...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
    const style = getComputedStyle(node);
    if (style.visibility === "hidden" || !node.getClientRects().length || node.closest("[hidden]")) continue;
    const a = lum(rgb(style.color)), b = lum(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(node.tagName + " " + node.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
  }
  return bad;
}"""
