import threading
from dataclasses import dataclass
from typing import ClassVar

from labmon.builtin.sim import SimConfig, SimInstrument
from labmon.config import PluginEntry
from labmon.models import Reading
from labmon.options import Duration
from labmon_measurer import sampling
from labmon_measurer.deadlines import Deadlines
from labmon_measurer.sampling import InstrumentRunner, Round, read_all


@dataclass(frozen=True)
class ScriptConfig:
    pass


class Scripted:
    """An instrument whose behaviour each test sets through class attributes."""

    Config = ScriptConfig
    opened = 0
    closed = 0
    behaviour = "ok"
    release = threading.Event()

    def __init__(self, config):
        type(self).opened += 1

    def read(self):
        if self.behaviour == "raise":
            raise OSError("VI_ERROR_TMO")
        if self.behaviour == "hang":
            self.release.wait(10)
        if self.behaviour == "bug":
            return 42
        return [Reading.ok("v", 1.5, "V")]

    def close(self):
        type(self).closed += 1


def runner(name, behaviour, timeout=0.2):
    cls = type(f"Scripted_{name}", (Scripted,), {"behaviour": behaviour, "release": threading.Event()})
    return InstrumentRunner(PluginEntry(name, "scripted", cls, ScriptConfig(), timeout)), cls


def test_good_instruments_report_beside_failing_ones():
    good, _ = runner("good", "ok")
    bad, _ = runner("bad", "raise")
    readings = read_all([good, bad])
    assert readings[0] == Reading("v", 1.5, "V", instrument="good")
    assert readings[1].instrument == "bad" and readings[1].status == "error"
    assert "OSError: VI_ERROR_TMO" in readings[1].error


def test_a_failed_instrument_is_closed_and_reopened_next_time():
    bad, cls = runner("flaky", "raise")
    read_all([bad])
    assert (cls.opened, cls.closed) == (1, 1)
    cls.behaviour = "ok"
    assert read_all([bad])[0].status == "ok"
    assert cls.opened == 2


def test_a_hung_instrument_times_out_then_reports_busy():
    hung, cls = runner("hung", "hang", timeout=0.1)
    good, _ = runner("good2", "ok")
    first = read_all([hung, good])
    assert "no answer within 100ms" in first[0].error and first[1].status == "ok"
    second = read_all([hung])
    assert "previous read still running" in second[0].error
    cls.release.set()


def test_a_plugin_returning_garbage_is_an_error_reading():
    buggy, _ = runner("buggy", "bug")
    (reading,) = read_all([buggy])
    assert "plugin bug" in reading.error


def test_a_round_answers_from_the_thread_of_the_last_read_and_then_goes_on():
    good, _ = runner("first", "ok")
    other, _ = runner("second", "ok")
    answers, went_on = [], threading.Event()
    reads = Round(
        [good, other], lambda readings, took: answers.append((readings, took, threading.get_ident())), went_on.set
    )
    assert not reads.begin()  # the reads run in their own threads: the answer comes later, from one of them
    assert went_on.wait(10)
    ((readings, took, thread),) = answers
    assert [r.instrument for r in readings] == ["first", "second"] and set(took) == {"first", "second"}
    assert thread != threading.get_ident() and reads.next_deadline() is None


def test_a_round_of_busy_instruments_answers_at_once_in_the_callers_thread():
    hung, cls = runner("stuck", "hang", timeout=0.1)
    read_all([hung])  # times out: the read goes on
    answers, went_on = [], threading.Event()
    reads = Round([hung], lambda readings, took: answers.append(readings), went_on.set)
    assert reads.begin()  # answered here: the caller goes on to the next inquiry, not `then` (no recursion)
    assert "previous read still running" in answers[0][0].error and not went_on.is_set()
    cls.release.set()


def test_deadlines_end_a_round_whose_instrument_hangs_and_answer_with_the_others():
    hung, cls = runner("frozen", "hang", timeout=0.1)
    good, _ = runner("fine", "ok", timeout=5.0)
    deadlines = Deadlines(idle=0.1)
    deadlines.start()
    answered, went_on = [], threading.Event()
    reads = Round([hung, good], lambda readings, took: answered.extend(readings), went_on.set)
    deadlines.watch(reads)
    reads.begin()
    try:
        assert went_on.wait(10)  # nobody but the deadlines thread could end this round
        assert "no answer within 100ms" in answered[0].error and answered[1].status == "ok"
    finally:
        cls.release.set()
        deadlines.stop()


def test_closing_a_runner_closes_its_instrument_in_its_thread():
    used, cls = runner("closable", "ok")
    read_all([used])
    used.close()
    assert cls.closed == 1


class InProcess(Scripted):
    """Says it computes its readings: read in the caller's thread once opened."""

    in_process = True
    threads: ClassVar[list[int]] = []

    def read(self):
        self.threads.append(threading.get_ident())
        return super().read()


def test_an_in_process_instrument_is_read_in_the_callers_thread_once_opened():
    computed = InstrumentRunner(PluginEntry("computed", "scripted", InProcess, ScriptConfig(), 1.0))
    InProcess.threads = []
    for _ in range(3):
        assert read_all([computed])[0].status == "ok"
    opened_in, read_in = InProcess.threads[0], InProcess.threads[1:]
    assert opened_in != threading.get_ident() and read_in == [threading.get_ident()] * 2


def test_an_in_process_instrument_that_takes_too_long_gets_a_thread_for_good(monkeypatch, caplog):
    monkeypatch.setattr(sampling, "INLINE_BUDGET", 0.0)  # every read is over it
    computed = InstrumentRunner(PluginEntry("slowpoke", "scripted", InProcess, ScriptConfig(), 1.0))
    InProcess.threads = []
    for _ in range(sampling.OVER_BUDGET + 2):
        assert read_all([computed])[0].status == "ok"
    assert InProcess.threads.count(threading.get_ident()) == sampling.OVER_BUDGET - 1  # then never again
    assert not computed.inline
    (warning,) = [r.getMessage() for r in caplog.records if "in_process" in r.getMessage()]
    assert "slowpoke says it is in_process, but 3 reads in a row took longer than 0 ms" in warning


def test_the_sim_instrument_is_in_process_unless_it_has_a_delay():
    assert SimInstrument(SimConfig()).in_process
    assert not SimInstrument(SimConfig(delay=Duration(0.1))).in_process
