import csv

from labmon.builtin.csv_sink import CsvConfig, CsvSink
from labmon.models import Batch, Reading, Result


def batch(cycle):
    readings = (
        Reading("lock_error", 0.05, "V", instrument="laser1"),
        Reading("*", None, "", "error", "timeout", "oven"),
    )
    return Batch(cycle, 1700000000.0 + 60 * cycle, (Result("q", "table1", 1700000000.5, readings),), ("table2",))


def test_csv_appends_rows_under_one_header(tmp_path):
    sink = CsvSink(CsvConfig(path=tmp_path / "out" / "readings.csv"))
    sink.write(batch(1))
    sink.write(batch(2))
    rows = list(csv.reader((tmp_path / "out" / "readings.csv").open()))
    assert rows[0][:4] == ["cycle_at", "measured_at", "measurer", "instrument"]
    assert len(rows) == 1 + 2 * 3
    assert rows[1] == [
        "2023-11-14T22:14:20.000+00:00",
        "2023-11-14T22:13:20.500+00:00",
        "table1",
        "laser1",
        "lock_error",
        "0.05",
        "V",
        "ok",
        "",
    ]
    assert rows[2][7:] == ["error", "timeout"] and rows[2][5] == ""
    assert rows[3][2] == "table2" and rows[3][7] == "missing"
