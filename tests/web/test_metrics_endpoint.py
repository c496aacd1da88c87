"""/metrics on the page's listener: as text, behind the page's password, and scraped by a real Prometheus."""

from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from labmon.testing import wait_until
from tests.web.conftest import fetch
from tests.web.prometheus_server import PrometheusServer


def test_metrics_are_served_in_the_exposition_format(running_lab):
    def laser_value():
        status, text = fetch(f"{running_lab.url}/metrics")
        assert status == 200
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "labmon_reading" and sample.labels["instrument"] == "laser2":
                    return sample
        return None

    sample = wait_until(laser_value)
    assert sample.labels == {
        "measurer": running_lab.measurer,
        "instrument": "laser2",
        "reading": "lock_error",
        "unit": "V",
    }
    assert sample.value == 0.04


def test_metrics_need_the_page_password(start_lab, monkeypatch):
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "hunter2-long")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}")
    status, _ = fetch(f"{lab.url}/metrics")
    assert status == 401


def test_a_real_prometheus_scrapes_the_collector(running_lab):
    with PrometheusServer([urlsplit(running_lab.url).netloc]) as prometheus:
        query = f'labmon_reading{{measurer="{running_lab.measurer}",instrument="laser2"}}'
        (result,) = prometheus.wait_for(lambda: prometheus.query(query), "a scraped sim reading")
        assert float(result["value"][1]) == 0.04
        assert result["metric"]["unit"] == "V"
        up = prometheus.wait_for(lambda: prometheus.query('up{job="labmon"} == 1'), "a healthy scrape target")
        assert up
        assert prometheus.wait_for(lambda: prometheus.query("labmon_cycles_total > 0"), "the collector's cycle count")


def test_dead_letters_reach_the_metrics(running_lab):
    outbox = running_lab.collector.outbox  # a target no courier drains, so the item stays put until rejected
    outbox.put("sink:gone", {"poison": True})
    item = outbox.oldest("sink:gone")
    assert item is not None
    outbox.reject("sink:gone", item.id, "HTTP 400: the store refused it")

    def dead():
        _, text = fetch(f"{running_lab.url}/metrics")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "labmon_outbox_dead_letters" and sample.labels["target"] == "sink:gone":
                    return sample.value
        return None

    assert wait_until(dead) == 1.0
