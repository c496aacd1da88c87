"""Time the postgres sink writing one large cycle beside a floor: COPY of the same rows, prepared beforehand.

Both write to a real PostgreSQL 15 (a private cluster, started as tests/postgres starts it) into tables of
the sink's shape, keyed by series and time, over one connection each, alternately, round by round. The
floor's rows are built before its clock starts; labmon's write includes turning the batch into rows.
Run: .venv/bin/python bench/postgres.py [--measurers 1000] [--readings 10] [--rounds 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import psycopg
from biglab import cycle
from psycopg import sql

from labmon import Secret
from labmon_postgres.schema import ensure_table
from labmon_postgres.sink import COLUMNS, PostgresConfig, PostgresSink, rows

sys.path.insert(0, str(Path(__file__).parents[1]))  # the cluster the tests start, not a copy of its recipe
from tests.postgres.conftest import Postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurers", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    server = Postgres().start()
    try:
        sink = PostgresSink(PostgresConfig(dsn=Secret(server.dsn), table="labmon_readings"))
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            ensure_table(conn, "floor_readings")
            statement = sql.SQL(f"COPY {{}} ({COLUMNS}) FROM STDIN").format(sql.Identifier("floor_readings"))

            def floor(found: list[tuple[object, ...]]) -> None:
                with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                    for row in found:
                        copy.write_row(row)

            sink.write(cycle(0, 1, 1))  # connects and makes its table outside the clock, as in a running collector
            floors, ours = [], []
            for number in range(1, args.rounds + 1):
                batch = cycle(number, args.measurers, args.readings)
                found = rows(batch)
                pair = [("floor", lambda f=found: floor(f)), ("labmon", lambda b=batch: sink.write(b))]
                for name, step in pair if number % 2 else reversed(pair):
                    started = time.perf_counter()
                    step()
                    (floors if name == "floor" else ours).append((time.perf_counter() - started) * 1000)
            sink.close()
            (count,) = conn.execute("SELECT count(*) FROM labmon_readings").fetchone() or (0,)
            (expected,) = conn.execute("SELECT count(*) + 2 FROM floor_readings").fetchone() or (0,)
            assert count == expected, (count, expected)
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    f, o = statistics.median(floors), statistics.median(ours)
    size = args.measurers * args.readings
    print(f"{size} readings a cycle, medians of {args.rounds} alternating rounds (wall time):")
    print(f"  floor (COPY of prepared rows)  {f:7.1f} ms")
    print(f"  labmon postgres sink           {o:7.1f} ms")
    print(f"  ratio                          {o / f:7.2f}x")


if __name__ == "__main__":
    main()
