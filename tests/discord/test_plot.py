"""attach_plot: a firing alert carries a PNG of its series' last hour, as a Discord file attachment."""

import email.parser
import json
import struct
import zlib

from labmon.testing import ScriptedServer, wait_until
from labmon_collector.alerting.pngplot import BOTTOM, HEIGHT, LEFT, RED, RIGHT, SHADE, TEXT, TOP, WIDTH, render
from labmon_collector.service import Collector
from tests.conftest import collector_table

from .test_discord import MESSAGE_OK, alert, notifier

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def parts(request):
    """Return the multipart/form-data parts of a request by name: (filename, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + request.body)
    return {
        p.get_param("name", header="content-disposition"): (p.get_filename(), p.get_payload(decode=True))
        for p in message.get_payload()
    }


def pixels(png):
    """Decode our own PNG (8-bit palette, filter 0) back to rows of palette indices."""
    assert png.startswith(PNG_SIGNATURE)
    at, data = 8, b""
    while at < len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        kind, body, crc = png[at + 4 : at + 8], png[at + 8 : at + 8 + size], png[at + 8 + size : at + 12 + size]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + body)
        data += body if kind == b"IDAT" else b""
        at += 12 + size
    raw = zlib.decompress(data)
    return [raw[r * (WIDTH + 1) + 1 : (r + 1) * (WIDTH + 1)] for r in range(HEIGHT)]


def test_the_plot_draws_the_series_with_gaps_and_a_dashed_threshold():
    points = [(t, 0.9 if 1200 <= t < 1800 else 0.05) for t in range(0, 3600, 60)] + [(3600, None)]
    rows = pixels(render(points, 0, 3600, 0.5))
    threshold_rows = [r for r, row in enumerate(rows) if row.count(3) > WIDTH // 2]
    assert len(threshold_rows) == 1 and 3 in rows[threshold_rows[0]]  # dashed red: more red than gap, not solid
    assert rows[threshold_rows[0]].count(3) < WIDTH - 12
    blue = [r for r, row in enumerate(rows) if 2 in row]
    assert min(blue) < threshold_rows[0] < max(blue)  # the series goes above and below the threshold
    assert len(render([], 0, 3600, None)) < 4000  # no data: an empty frame with its axes, still a valid image


def test_the_plot_reads_on_its_own_with_a_title_axes_a_unit_and_the_firing_marked():
    start = 1_790_000_000.0
    points = [(start + t, 2e-6 if 2400 <= t < 3000 else 1e-7) for t in range(0, 3600, 30)]
    png = render(
        points, start, start + 3600, 1e-6, title="unlocked: t1/laser/err", unit="V", firing=(start + 2400, start + 2460)
    )
    assert struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT) and len(png) < 8000  # still small
    rows = pixels(png)
    assert sum(row.count(TEXT) for row in rows[:TOP]) > 100  # the title is written above the plot
    assert sum(row[:LEFT].count(TEXT) for row in rows[TOP:BOTTOM]) > 150  # the value ticks left of it
    assert sum(row.count(TEXT) for row in rows[BOTTOM + 2 :]) > 300  # the times and their zone below it
    shaded = [col for col in range(WIDTH) if rows[(TOP + BOTTOM) // 2][col] == SHADE]
    assert shaded and min(shaded) >= LEFT + round(2400 / 3600 * (RIGHT - LEFT)) - 1  # held since 2400 s in
    fired = [col for col in range(LEFT, WIDTH) if all(rows[r][col] == RED for r in range(TOP + 2, TOP + 10))]
    assert len(fired) == 1  # one line where it fired
    assert len({p for row in rows for p in row}) >= 5  # not blank: frame, series, text, threshold, shade


def test_discord_sends_the_plot_as_a_file_the_embed_shows():
    png = render([(0, 1.0), (1800, 2.0)], 0, 3600, 1.5)
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify_with_plot(alert(), png)
        (request,) = server.wait_for(1)
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    sent = parts(request)
    (embed,) = json.loads(sent["payload_json"][1])["embeds"]
    assert embed["image"] == {"url": "attachment://plot.png"}
    assert sent["_plot.png"] == ("plot.png", png)


def test_a_firing_alert_reaches_discord_with_the_plot_of_its_last_hour(lab, broker, write_config, monkeypatch):
    times = iter([100_000.0, 100_060.0])
    with ScriptedServer(MESSAGE_OK) as server:
        monkeypatch.setenv("TEST_DISCORD_HOOK", f"{server.url}/api/webhooks/1/token")
        notifiers = {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_HOOK}", "attach_plot": True}}
        rule = {"name": "hot", "select": f"{lab[0]}/laser1/lock_error", "above": 0.01, "for": "1m"}
        config = write_config(collector_table(broker, lab, interval="1m", notifiers=notifiers, rules=[rule]))
        collector = Collector(config, clock=lambda: next(times), announce=False)  # an injected clock: no waiting
        collector.start()
        try:
            assert collector.wait_connected(10)
            collector.run_cycle(1)  # pending; its reading goes to the history
            wait_until(lambda: all(t.backlog == 0 for t in collector.outbox.status() if t.target == "sink:history"))
            collector.run_cycle(2)  # firing, a minute later
            (request,) = server.wait_for(1)
        finally:
            collector.stop()
    sent = parts(request)
    (embed,) = json.loads(sent["payload_json"][1])["embeds"]
    assert embed["image"] == {"url": "attachment://plot.png"} and embed["title"] == "WARNING: hot"
    rows = pixels(sent["_plot.png"][1])
    assert any(2 in row for row in rows) and any(row.count(3) > WIDTH // 2 for row in rows)
