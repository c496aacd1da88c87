"""The page in a real browser (Debian's Chromium driven by Playwright) against a collector polling sim measurers."""

import contextlib
import time

import pytest

from tests.web.conftest import STEP, RunningLab


def test_overview_shows_the_laser_firing_and_recovering_without_a_reload(running_lab: RunningLab, page, tmp_path):
    loads = []
    page.on("load", lambda _: loads.append(1))
    page.goto(running_lab.url + "/")
    tile = page.locator(f'a.tile[data-series="{running_lab.laser}"]')
    tile.and_(page.locator('[data-state="firing"]')).wait_for(timeout=STEP)
    firing_colour = tile.evaluate("node => getComputedStyle(node).borderLeftColor")
    assert tile.locator(".badge").inner_text().lower() == "firing"
    page.screenshot(path=tmp_path / "overview-firing.png", full_page=True)
    tile.and_(page.locator('[data-state="ok"]')).wait_for(timeout=STEP)
    assert tile.evaluate("node => getComputedStyle(node).borderLeftColor") != firing_colour
    assert len(loads) == 1  # the page updated itself
    steady = page.locator(f'a.tile[data-series="{running_lab.measurer}/laser2/lock_error"]')
    assert steady.get_attribute("data-state") == "ok" and steady.locator("svg path").count() == 1


def test_series_page_draws_points_a_threshold_line_and_the_firing_period(running_lab: RunningLab, page, tmp_path):
    page.goto(running_lab.url + "/alerts")
    events = page.locator("#events")
    for kind in ("firing", "resolved"):
        events.locator("tr", has_text=running_lab.laser).filter(has_text=kind).first.wait_for(timeout=STEP)
    page.screenshot(path=tmp_path / "alerts.png", full_page=True)
    page.goto(f"{running_lab.url}/series?s={running_lab.laser}")
    plot = page.locator("#plot")
    page.locator("#plot canvas").wait_for(timeout=STEP)
    page.locator('#plot:not([data-firing="0"])').wait_for(timeout=STEP)  # (the page's CSP forbids eval)
    assert int(plot.get_attribute("data-points")) >= 3 and plot.get_attribute("data-thresholds") == "1"
    # Pixels on the threshold's row: the dashed red line is really drawn.
    red = page.evaluate(
        """() => {
            const u = window.labmonPlot, y = Math.round(u.valToPos(0.5, "y0", true));
            const row = u.ctx.getImageData(u.bbox.left, y, u.bbox.width, 1).data;
            let count = 0;
            for (let i = 0; i < row.length; i += 4) if (row[i] > 180 && row[i + 1] < 120) count++;
            return count;
        }"""
    )
    assert red > 50
    page.screenshot(path=tmp_path / "series.png", full_page=True)
    page.locator('#ranges button[data-range="24h"]').click()
    page.locator('#plot[data-resolution="600"]').wait_for(timeout=STEP)


@pytest.fixture
def signed_in(start_lab, browser, monkeypatch):
    """A lab whose page has a password, and a browser page that knows it (so it may act)."""
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    lab = start_lab(password="${LABMON_TEST_PAGE_PASSWORD}")
    context = browser.new_context(http_credentials={"username": "lab", "password": "s3cret-page"})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield lab, page
    context.close()
    assert not errors, errors


def test_the_ack_button_acknowledges_a_firing_alert_behind_the_password(signed_in, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    lab, page = signed_in
    page.on("dialog", lambda dialog: dialog.accept("relocking"))  # the button asks why
    page.goto(lab.url + "/alerts")
    acknowledged = page.locator("#events tr", has_text="acknowledged by lab: relocking")  # the user who logged in
    button = page.locator(f'button.ack[data-series="{lab.laser}"]')
    deadline = time.monotonic() + STEP / 1000
    while not acknowledged.count():  # polling with a deadline: the laser fires 3 s in 6, it may resolve mid-click
        assert time.monotonic() < deadline, "the Ack button never acknowledged the alert"
        if button.count():
            with contextlib.suppress(PlaywrightTimeout):  # re-drawn or acknowledged meanwhile: look again
                button.first.click(timeout=1000)
        page.wait_for_timeout(200)
    page.screenshot(path=tmp_path / "acknowledged.png", full_page=True)


def test_the_silence_form_shows_the_collectors_refusal(signed_in):
    lab, page = signed_in
    page.goto(lab.url + "/alerts")
    page.fill("#silence input[name=selector]", f"{lab.measurer}/*/*")
    page.fill("#silence input[name=duration]", "soon")  # the collector answers 400
    page.click("#silence button[type=submit]")
    page.locator("#silence .error", has_text="duration").wait_for(timeout=STEP)
    assert page.input_value("#silence input[name=duration]") == "soon"  # kept, to be corrected
