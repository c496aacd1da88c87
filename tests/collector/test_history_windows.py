"""The history's window layout: a file of the per-series layout migrated (and a migration killed mid-way), readers
across windows, gaps and restarts, a reader in another process while the sink writes."""

import math
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labmon.models import Batch, Reading, Result
from labmon.options import Duration
from labmon_collector.history.reader import History
from labmon_collector.history.writer import HistoryConfig, HistorySink

# The per-series layout as the sink made it before (points keyed (series, t), buckets (series, width, start)).
OLD = """
CREATE TABLE series (
    id INTEGER PRIMARY KEY, measurer TEXT NOT NULL, instrument TEXT NOT NULL, name TEXT NOT NULL,
    unit TEXT NOT NULL, UNIQUE (measurer, instrument, name)
);
CREATE TABLE points (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL, error TEXT,
    measured_at REAL NOT NULL, PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE fresh (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL, error TEXT,
    measured_at REAL NOT NULL, PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE buckets (
    series INTEGER NOT NULL, width INTEGER NOT NULL, start REAL NOT NULL, n INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, PRIMARY KEY (series, width, start)
) WITHOUT ROWID;
CREATE TABLE missing (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer));
CREATE TABLE measurers (
    measurer TEXT PRIMARY KEY, answered INTEGER NOT NULL DEFAULT 0, missing INTEGER NOT NULL DEFAULT 0,
    last_answer REAL
);
CREATE TABLE disconnected (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer));
CREATE TABLE history_meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE VIEW all_points AS SELECT * FROM points UNION ALL SELECT * FROM fresh;
CREATE VIEW readings AS
    SELECT p.t AS cycle_at, s.measurer, s.instrument, s.name, p.value, s.unit, p.status, p.error, p.measured_at
    FROM all_points p JOIN series s ON s.id = p.series;
CREATE VIEW latest AS SELECT s.id, s.measurer, s.instrument, s.name, s.unit, NULL AS last_at, NULL AS last_value,
    NULL AS last_status, NULL AS last_error FROM series s;
INSERT INTO history_meta VALUES ('views', 2), ('latest_view', 1);
"""


def old_file(path: Path, series: int, points: int, step: float = 10.0) -> list[tuple[object, ...]]:
    """Write a history of the per-series layout (in WAL, as that sink kept it); return its rows as `all_points`."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(OLD)
    rows = []
    for sid in range(1, series + 1):
        db.execute("INSERT INTO series VALUES (?, 't1', ?, 'x', 'V')", (sid, f"i{sid}"))
        rows += [(sid, i * step, float(i % 7), "ok", None, i * step) for i in range(points)]
    mark = (points * step) // 600 * 600  # the open window's start
    db.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?)", [row for row in rows if row[1] < mark])
    db.executemany("INSERT INTO fresh VALUES (?, ?, ?, ?, ?, ?)", [row for row in rows if row[1] >= mark])
    db.execute(
        "INSERT INTO buckets SELECT series, 600, CAST(t / 600 AS INTEGER) * 600, COUNT(*), MIN(value), MAX(value),"
        " SUM(value) FROM points GROUP BY series, CAST(t / 600 AS INTEGER)"
    )
    db.execute("INSERT INTO history_meta VALUES ('buckets_through_600', ?), ('buckets_through_7200', 0)", (mark,))
    db.execute("INSERT INTO measurers VALUES ('t1', ?, 0, ?)", (points, (points - 1) * step))
    db.commit()
    db.close()
    return rows


def test_a_file_of_the_per_series_layout_is_migrated_row_for_row_and_written_on(tmp_path):
    path = tmp_path / "h.sqlite"
    rows = old_file(path, series=3, points=200)  # 2000 s: three closed windows and an open one
    old = sqlite3.connect(path)
    buckets = old.execute("SELECT series, width, start, n, min, max, sum FROM buckets ORDER BY 1, 2, 3").fetchall()
    old.close()
    history = History(path)
    db = sqlite3.connect(path)
    assert sorted(db.execute("SELECT * FROM all_points")) == sorted(rows)
    assert db.execute("SELECT series, width, start, n, min, max, sum FROM buckets ORDER BY 1, 2, 3").fetchall() == (
        buckets
    )
    assert db.execute("SELECT series, start FROM ends ORDER BY 1").fetchall() == [(1, 1200), (2, 1200), (3, 1200)]
    assert [(s.key, s.last_at, s.last_value) for s in history.series()] == [
        (f"t1/i{sid}/x", 1990.0, float(199 % 7)) for sid in (1, 2, 3)
    ]
    assert history.readings(2, 0.0, 1e12) == [(row[1], row[2], "ok", None) for row in rows if row[0] == 2]
    assert {name for (name,) in db.execute("SELECT name FROM sqlite_master")} >= {"points", "buckets", "ends"}
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name LIKE '%_v2'").fetchone()
    sink = HistorySink(HistoryConfig(path=path))
    sink.write(batch(2400.0, {"i1": 5.0}))  # the next window: the open one closes into `points`
    sink.close()
    assert history.readings(1, 1990.0, 2400.0) == [(1990.0, float(199 % 7), "ok", None), (2400.0, 5.0, "ok", None)]
    history.close()
    db.close()


def test_a_migration_killed_mid_way_leaves_the_file_as_it_was_and_the_next_open_completes_it(tmp_path):
    path = tmp_path / "h.sqlite"
    rows = old_file(path, series=50, points=8000)  # 400,000 readings: the copy takes a while
    script = (
        f"from pathlib import Path; from labmon_collector.history.reader import History; History(Path({str(path)!r}))"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    assert "migrating the history to the window layout" in child.stderr.readline()
    child.kill()
    child.wait()
    db = sqlite3.connect(path)
    assert "start" not in {row[1] for row in db.execute("PRAGMA table_info(points)")}  # killed before its commit
    assert db.execute("SELECT COUNT(*) FROM all_points").fetchone() == (len(rows),)
    db.close()
    History(path).close()
    db = sqlite3.connect(path)
    assert "start" in {row[1] for row in db.execute("PRAGMA table_info(points)")}
    assert db.execute("SELECT COUNT(*), SUM(value), SUM(t) FROM all_points").fetchone() == (
        len(rows),
        sum(float(row[2]) for row in rows),  # type: ignore[arg-type]
        sum(float(row[1]) for row in rows),  # type: ignore[arg-type]
    )
    db.close()


def batch(t: float, values: dict[str, float | None]) -> Batch:
    readings = tuple(
        Reading("x", value, "V", instrument=name)
        if value is not None
        else Reading("x", None, "V", "error", "timeout", name)
        for name, value in values.items()
    )
    return Batch(1, t, (Result("q", "t1", t, readings),) if readings else (), () if readings else ("t1",))


def lab_times() -> list[float]:
    """Cycle times across window boundaries, a gap inside a window, a gap of hours, times a minute apart."""
    times = [k * 10.0 for k in range(150)]  # 0-1490 s: two closed windows and part of a third
    times += [1700.0 + k * 10.0 for k in range(30)]  # a gap of 3.5 minutes
    times += [4 * 3600.0 + k * 60.0 for k in range(200)]  # hours later, a reading a minute over 3 h 20
    return times


@pytest.mark.parametrize("flush_every", [0.0, 60.0, 600.0])
def test_readers_see_every_point_across_windows_gaps_and_restarts(tmp_path, flush_every):
    path = tmp_path / "h.sqlite"
    config = HistoryConfig(path=path, flush_every=Duration(flush_every))
    expected: dict[str, list[tuple[float, float | None, str, str | None]]] = {"a": [], "b": []}
    sink = HistorySink(config)
    for i, t in enumerate(lab_times()):
        values: dict[str, float | None] = {"a": math.sin(t / 500.0), "b": None if i % 17 == 0 else float(i)}
        if i % 23 == 0:
            del values["b"]  # b did not answer this cycle
        sink.write(batch(t, values))
        for name, value in values.items():
            expected[name].append((t, value, "ok" if value is not None else "error", None if value else "timeout"))
        if i in (75, 160, 290):  # restarts: mid-window, in the short gap's window, in the long run
            sink.close()
            sink = HistorySink(config)
    sink.close()
    history = History(path)
    ids = {info.key.split("/")[1]: info.id for info in history.series()}
    for name, points in expected.items():
        points = [(t, v, s, None if s == "ok" else "timeout") for t, v, s, _ in points]
        sid = ids[name]
        assert history.readings(sid, -math.inf, math.inf) == points
        assert history.readings(sid, 1490.0, 1700.0) == [p for p in points if 1490.0 <= p[0] <= 1700.0]
        assert history.recent(sid, 120).t[-1] == points[-1][0]
        spark = history.recent(sid, 500)
        valid_times = [t for t, mean in zip(spark.t, spark.mean, strict=True) if mean is not None]
        assert valid_times == [p[0] for p in points[-500:] if p[1] is not None]
        assert history.times_before(sid, 4 * 3600.0, 3) == [p[0] for p in points if p[0] < 4 * 3600.0][-3:][::-1]
        halves = [
            [v for t, v, s, _ in points if s == "ok" and lo <= t < hi]
            for lo, hi in ((600.0, 3 * 3600.0), (3 * 3600.0, 5 * 3600.0))
        ]
        means = history.means(sid, 600.0, 3 * 3600.0, 5 * 3600.0)
        assert means == pytest.approx(tuple(sum(half) / len(half) for half in halves))
        week = history.plot(sid, 0.0, 7 * 86400.0)  # buckets, then the points after the marks
        counted = {t: v for t, v in zip(week.t, week.mean, strict=True) if v is not None}
        for start, mean in counted.items():
            inside = [v for t, v, s, _ in points if s == "ok" and start - 300 <= t < start + 300]
            assert mean == pytest.approx(sum(inside) / len(inside)), start
        assert len(counted) == len({t // 600 for t, _, s, _ in points if s == "ok"})
    history.close()


def test_a_ten_minute_flush_stores_each_window_straight_into_points(tmp_path):
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryConfig(path=path, flush_every=Duration(600.0)))
    for k in range(61):  # 0 to 600 s: the batch at 600 s closes the first window
        sink.write(batch(k * 10.0, {"a": float(k)}))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # see journal_for
    assert db.execute("SELECT COUNT(*) FROM fresh").fetchone() == (0,)
    assert db.execute("SELECT start, COUNT(*) FROM points GROUP BY start").fetchall() == [(0, 60)]
    assert db.execute("SELECT width, start, n, sum FROM buckets").fetchall() == [(600, 0.0, 60, float(sum(range(60))))]
    sink.close()  # what is gathered goes to `fresh`: its window is open
    assert db.execute("SELECT COUNT(*) FROM fresh").fetchone() == (1,)
    db.close()


READER = """
import sys, time
from pathlib import Path
from labmon_collector.history.reader import History
path, stop, progress = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
history, reads = History(path), 0
print("reading", flush=True)
while not stop.exists():
    for info in history.series():
        history.readings(info.id, 0.0, 1e12)
        history.plot(info.id, 0.0, 30 * 86400.0)
        history.recent(info.id)
        reads += 1
    progress.write_text(str(reads))
print(reads, flush=True)
"""


def test_a_reader_in_another_process_never_finds_the_file_locked_while_the_sink_writes(tmp_path):
    path, stop, progress = tmp_path / "h.sqlite", tmp_path / "stop", tmp_path / "progress"
    sink = HistorySink(HistoryConfig(path=path, flush_every=Duration(600.0)))  # a rollback journal: readers wait
    names = [f"i{k}" for k in range(40)]
    sink.write(batch(0.0, dict.fromkeys(names, 1.0)))
    sink.write(batch(600.0, dict.fromkeys(names, 1.0)))
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(READER), str(path), str(stop), str(progress)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "reading"

    def passes() -> int:
        return int(progress.read_text() or 0) // len(names) if progress.exists() else 0

    k = 2
    while k < 600 or passes() < 5:  # 100 windows of 40 series or more, each flushed in a transaction of its own
        sink.write(batch(k * 60.0, {name: float(k) for name in names}))
        k += 1
        assert k < 60_000 and reader.poll() is None, "the reader stopped, or made no progress"
    sink.close()
    stop.touch()
    _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0 and "locked" not in err, err
