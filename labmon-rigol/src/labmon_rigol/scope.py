"""A Rigol DS2000/DS1000Z oscilloscope as a labmon instrument, through PyVISA's pure-Python backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from labmon import Duration, Reading
from labmon_rigol.visa import open_session

if TYPE_CHECKING:
    from labmon_rigol import waveform

MEASUREMENTS: dict[str, tuple[str, str]] = {
    "vpp": ("VPP", "V"),
    "vmax": ("VMAX", "V"),
    "vmin": ("VMIN", "V"),
    "vavg": ("VAVG", "V"),
    "vrms": ("VRMS", "V"),
    "vamp": ("VAMP", "V"),
    "vtop": ("VTOP", "V"),
    "vbase": ("VBAS", "V"),
    "frequency": ("FREQ", "Hz"),
    "period": ("PER", "s"),
    "rise_time": ("RTIM", "s"),
    "fall_time": ("FTIM", "s"),
    "positive_width": ("PWID", "s"),
    "negative_width": ("NWID", "s"),
    "positive_duty": ("PDUT", ""),
    "overshoot": ("OVER", ""),
}
"""Built-in scope measurements: config name -> (`:MEAS:<item>?` item, unit)."""

METRICS: dict[str, str] = {
    "mean": "V",
    "std": "V",
    "min": "V",
    "max": "V",
    "rms": "V",
    "peak_count": "",
    "peak_time": "s",
    "peak_height": "V",
    "jitter": "s",
    "jitter_variance": "s^2",
}
"""Waveform metrics computed here from the screen traces: config name -> unit."""

INVALID_ABOVE = 1e36  # the scope answers 9.9e37 when a measurement has no valid value
SCREEN_POINTS = {"DS2": 1400, "MSO2": 1400, "DS1": 1200, "MSO1": 1200}


@dataclass(frozen=True)
class RigolConfig:
    """Options of a Rigol scope."""

    resource: str
    channels: list[int] = field(default_factory=lambda: [1])
    measurements: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    traces: int = 1
    peak: Literal["first", "highest"] = "first"
    peak_threshold: float = 0.5
    peak_hysteresis: float = 0.1
    visa_timeout: Duration = Duration(5.0)
    backend: str = "@py"

    def __post_init__(self) -> None:
        unknown = [m for m in self.measurements if m not in MEASUREMENTS]
        if unknown:
            raise ValueError(f"unknown measurements {unknown}; known: {', '.join(MEASUREMENTS)}")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
        if not self.measurements and not self.metrics:
            raise ValueError('nothing to read: set measurements = ["vpp", ...] and/or metrics = ["jitter", ...]')
        if not all(1 <= c <= 4 for c in self.channels):
            raise ValueError("channels are numbered 1 to 4")
        if self.traces < 1 or ({"jitter", "jitter_variance"} & set(self.metrics) and self.traces < 2):
            raise ValueError("traces must be at least 1, and at least 2 for jitter")
        if not 0 < self.peak_threshold < 1:
            raise ValueError("peak_threshold is a fraction of the way from baseline to maximum: between 0 and 1")


class RigolScope:
    """Sets the waveform settings it relies on, reads BYTE blocks and scales them with :WAV:PRE?."""

    Config = RigolConfig

    def __init__(self, config: RigolConfig) -> None:
        self.config = config
        self._scope = open_session(config.resource, backend=config.backend, timeout=config.visa_timeout)
        self.identity: str = self._scope.query("*IDN?").strip()
        maker, model = [*self.identity.split(","), "", ""][:2]
        if "RIGOL" not in maker.upper():
            raise ConnectionError(f"{config.resource} is not a Rigol scope: *IDN? answered {self.identity!r}")
        self.model = model
        self.points = next((n for prefix, n in SCREEN_POINTS.items() if model.startswith(prefix)), None)

    def read(self) -> list[Reading]:
        """Return each channel's measurements and metrics; an I/O failure raises (the measurer reopens)."""
        readings: list[Reading] = []
        for channel in self.config.channels:
            readings.extend(self._measure(channel, item) for item in self.config.measurements)
            if self.config.metrics:
                readings.extend(self._metrics(channel))
        return readings

    def _measure(self, channel: int, item: str) -> Reading:
        command, unit = MEASUREMENTS[item]
        name = f"ch{channel}_{item}"
        value = float(self._scope.query(f":MEAS:{command}? CHAN{channel}"))
        if abs(value) > INVALID_ABOVE:
            return Reading.failed(name, f"no valid measurement (the scope answered {value:g})", unit)
        return Reading.ok(name, value, unit)

    def traces(self, channel: int, count: int) -> tuple[waveform.Preamble, waveform.Traces]:
        """Read `count` screen traces of `channel` as volts, checking every block's length."""
        import numpy as np  # numpy and the waveform maths load with the first read, not with `labmon --help`

        from labmon_rigol import waveform

        # One message: separate unanswered writes would each wait out the scope's delayed ACK (~40 ms).
        settings = f":WAV:SOUR CHAN{channel};:WAV:MODE NORM;:WAV:FORM BYTE;:WAV:PRE?"
        preamble = waveform.Preamble.parse(self._scope.query(settings))
        expected = self.points or preamble.points
        rows = np.empty((count, expected), dtype=np.float64)
        for i in range(count):
            raw = self._scope.query_binary_values(":WAV:DATA?", datatype="B", container=np.array)
            if len(raw) != expected:
                raise ShortBlock(f"CHAN{channel}: the scope sent {len(raw)} of {expected} points (short block)")
            rows[i] = preamble.volts(raw)
        return preamble, rows

    def _metrics(self, channel: int) -> list[Reading]:
        import numpy as np

        from labmon_rigol import waveform

        c = self.config
        try:
            preamble, volts = self.traces(channel, c.traces)
        except ShortBlock as exc:
            return [Reading.failed(f"ch{channel}_{m}", str(exc), METRICS[m]) for m in c.metrics]
        if c.peak == "first":
            peaks = waveform.first_peak_index(volts, c.peak_threshold)
        else:
            peaks = waveform.highest_peak_index(volts)
        times = preamble.time(peaks)
        found = ~np.isnan(peaks)
        rows = np.arange(len(peaks))
        heights = volts[rows[found], np.round(peaks[found]).astype(int)]
        values: dict[str, float | str] = {
            "mean": float(volts.mean()),
            "std": float(volts.std(axis=1).mean()),
            "min": float(volts.min()),
            "max": float(volts.max()),
            "rms": float(np.sqrt(np.mean(volts**2))),
            "peak_count": float(np.median(waveform.peak_count(volts, c.peak_threshold, c.peak_hysteresis))),
        }
        if found.any():
            values |= {"peak_time": float(np.nanmean(times)), "peak_height": float(heights.mean())}
        else:
            values |= {"peak_time": "no peak above the threshold", "peak_height": "no peak above the threshold"}
        if found.sum() >= 2:
            values |= {"jitter": float(np.nanstd(times, ddof=1)), "jitter_variance": float(np.nanvar(times, ddof=1))}
        else:
            values |= dict.fromkeys(("jitter", "jitter_variance"), f"a peak in only {found.sum()} of {c.traces} traces")
        return [_reading(f"ch{channel}_{m}", values[m], METRICS[m]) for m in c.metrics]

    def close(self) -> None:
        """Close the VISA session."""
        self._scope.close()


class ShortBlock(Exception):
    """The scope sent fewer points than its screen holds (seen on DS2072 at slow timebases)."""


def _reading(name: str, value: float | str, unit: str) -> Reading:
    return Reading.ok(name, value, unit) if isinstance(value, float) else Reading.failed(name, value, unit)
