"""Measure forecast rules: how close the predicted crossing is to the true one, and false alerts on pure noise.

Accuracy, and what a cycle spends on the fits. Writes a history in the sink's layout (one reading a minute) with
- drifting series: a linear drift (or, on a log scale, an exponential rise as a leaking vacuum's pressure)
  plus Gaussian noise and 1 % outliers ten sigma off, each reaching its bound a known time after the end;
  the forecast made at the end (fit over 24 h) is compared with that time;
- pure noise: 30 days of Gaussian noise around a flat level, the bound 5 sigma away, judged every 10 minutes
  (as the rule refits) over the last 29 days: every forecast that would fire is counted;
- then the first cycle of the drifting series' rules: its time in the rules, fitting in the cycle (at most
  PER_CYCLE fits) or handing the fits to the worker (as the collector does).
Run: .venv/bin/python bench/forecast.py [--drifting 40] [--noise 10] [--sigma 0.02]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

from labmon.models import Reading
from labmon.options import Duration
from labmon.rule_config import RuleConfig
from labmon_collector.health.forecast import PER_CYCLE, Forecaster
from labmon_collector.history.writer import open_history, rebuild_summaries

STEP = 60.0
END = 1_800_000_000.0
DAY = 86400.0


def write(path: Path, series: dict[str, list[tuple[float, float]]]) -> None:
    """Store each series' (time, value) points."""
    db = open_history(path)
    db.execute("BEGIN")
    for key, points in series.items():
        db.execute("INSERT INTO series (measurer, instrument, name, unit) VALUES (?, ?, ?, 'V')", key.split("/"))
        (sid,) = db.execute("SELECT last_insert_rowid()").fetchone()
        db.executemany("INSERT INTO fresh VALUES (?, ?, ?, 'ok', NULL, ?)", [(sid, t, v, t) for t, v in points])
    rebuild_summaries(db)
    db.execute("COMMIT")
    db.close()


def drifting(rng: random.Random, eta: float, sigma: float, log: bool, days: float = 2.0) -> list[tuple[float, float]]:
    """Return a series reaching 1.0 (log: 1e-8 from 1e-9 scale) `eta` seconds after END, with noise and outliers."""
    start = END - days * DAY
    points = []
    rate = 1.0 / (eta + days * DAY)  # from 0 at the start to 1 at END + eta
    for i in range(int(days * DAY / STEP)):
        t = start + i * STEP
        y = (t - start) * rate + rng.gauss(0, sigma)
        if rng.random() < 0.01:
            y += rng.choice((-10, 10)) * sigma
        points.append((t, 10 ** (y - 9) if log else y))  # log: a decade of rise (1e-9 to 1e-8)
    return points


def main() -> None:
    """Write the histories, forecast, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drifting", type=int, default=40)
    parser.add_argument("--noise", type=int, default=10)
    parser.add_argument("--sigma", type=float, default=0.02, help="noise, as a fraction of the distance to the bound")
    args = parser.parse_args()
    rng = random.Random(3)
    truth = {f"d{i}/gauge/{'pressure' if i % 2 else 'level'}": rng.uniform(1, 10) * DAY for i in range(args.drifting)}
    series = {key: drifting(rng, eta, args.sigma, key.endswith("pressure")) for key, eta in truth.items()}
    noise_start = END - 30 * DAY
    for i in range(args.noise):
        series[f"n{i}/gauge/level"] = [(noise_start + j * STEP, rng.gauss(0, 1)) for j in range(int(30 * DAY / STEP))]
    path = Path(tempfile.mkdtemp()) / "forecast.sqlite"
    write(path, series)
    window, horizon = Duration(DAY), Duration(14 * DAY)
    level = RuleConfig(name="level", select="*/gauge/level", forecast=window, horizon=horizon, above=1.0)
    pressure = RuleConfig(
        name="pressure", select="*/gauge/pressure", forecast=window, horizon=horizon, above=1e-8, log_scale=True
    )
    forecaster = Forecaster(path)
    errors = []
    for key, eta in truth.items():
        rule = pressure if key.endswith("pressure") else level
        fit = forecaster.fit(rule, key, END)
        bound = math.log10(1e-8) if rule.log_scale else 1.0
        predicted = fit.crossing(bound, True) if fit is not None else None
        errors.append(math.inf if predicted is None else abs(predicted - eta) / eta)
    within = sum(e <= 0.2 for e in errors)
    print(f"drifting: {len(errors)} series (half log scale), crossing 1-10 days ahead, noise {args.sigma:g} of the")
    print("  distance, 1 % outliers at 10 sigma; forecast at the end, fit over 24 h")
    print(f"  within 20 % of the true crossing: {within}/{len(errors)}; median error {statistics.median(errors):.1%},")
    print(f"  worst {max(errors):.1%}")
    noisy = RuleConfig(name="noise", select="n*/gauge/level", forecast=window, horizon=Duration(7 * DAY), above=5.0)
    fired = judged = 0
    for i in range(args.noise):
        key = f"n{i}/gauge/level"
        now = noise_start + DAY
        while now <= END:
            reading = Reading("level", 0.0, "V", instrument="gauge")
            seen = forecaster.observe(noisy, [(key, f"n{i}", reading, now)], now)[0]
            judged += 1
            fired += seen.holds is True
            now += 600.0
    print(f"pure noise: {args.noise} series x 29 days judged every 10 min ({judged} forecasts), bound at 5 sigma,")
    print(f"  horizon 7 d: {fired} would fire")
    forecaster.close()
    cycle_cost(path, level, pressure, list(truth))


def cycle_cost(path: Path, level: RuleConfig, pressure: RuleConfig, keys: list[str]) -> None:
    """Print what the first cycle spends in the forecast rules: fitting in it, or queueing for the worker."""
    for background in (False, True):
        forecaster = Forecaster(path, background=background)
        began = time.perf_counter()
        for key in keys:
            reading = Reading(key.rsplit("/", 1)[1], 0.0, "V", instrument="gauge")
            forecaster.observe(pressure if key.endswith("pressure") else level, [(key, "d", reading, END)], END)
        took = time.perf_counter() - began
        forecaster.close()
        how = "fits in a worker (queued)" if background else f"fits in the cycle (at most {PER_CYCLE})"
        print(f"first cycle of {len(keys)} forecast series, {how}: {took * 1000:.1f} ms")


if __name__ == "__main__":
    main()
