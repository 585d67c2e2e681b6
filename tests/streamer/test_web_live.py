"""The live console in a real headless Chromium against a real service: a real pipeline (real RTSP server, real scene
model, real MQTT broker, real SQLite watchlist and outbox) and its API as ``vigil run`` builds it (``start_api``).

The cameras come up while the console watches; the astronaut's alert shows up in the feed within 2 s of reaching
the broker, with its crop and snapshot, turns to closed without a reload, and is acknowledged; each camera's card
shows its latest keyframe; deep links and Back/Forward move between views. Screenshots of every tab, at 1366x768 and
at 375x812, land in ``data/screenshots/`` (``VIGIL_SCREENSHOTS`` overrides) for a person to look at.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from streamer.alerts.outbox import AlertOutbox
from streamer.api.server import ApiServer, listen, start_api
from streamer.api.tokens import create_token
from streamer.demo.scenes import letterbox, photo
from streamer.devservices.clips import ClipEncoding
from streamer.service import outbox_path
from tests.fixtures.browser import console_errors
from watchlists.store import WatchlistStore

SIZE = (640, 360)
SCREENSHOTS = Path(os.environ.get("VIGIL_SCREENSHOTS", "data/screenshots"))
VIEWS = ("watchlist", "live", "match", "search", "alerts", "cameras")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Console:
    """The page in the browser, signed in as a viewer."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver, self.url = driver, url

    def wait(self, condition, timeout: float = 60.0):
        waiting = WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                ignored_exceptions=(StaleElementReferenceException,))  # fmt: skip
        return waiting.until(lambda _: condition())

    def script(self, code: str, *args: object):
        return self.driver.execute_script(code, *args)

    def visible_view(self) -> str:
        return str(self.script("return [...document.querySelectorAll('.view')].find((v) => !v.hidden)?.id || ''"))

    def row(self, alert_id: str):
        rows = self.driver.find_elements(By.CSS_SELECTOR, f"#live-feed [data-alert-id='{alert_id}']")
        return rows[0] if rows else None

    def click_in_row(self, alert_id: str, selector: str) -> None:
        """Click inside an alert's row; a live update may re-render the row between finding and clicking it (a
        stale element), so find it again until the click lands."""

        def click() -> bool:
            self.row(alert_id).find_element(By.CSS_SELECTOR, selector).click()
            return True

        self.wait(click, timeout=5)

    def pictures_loaded(self, alert_id: str) -> bool:
        return bool(
            self.script(
                "const imgs = document.querySelectorAll(`#live-feed [data-alert-id='${arguments[0]}'] img`);"
                "return imgs.length === 2 && [...imgs].every((i) => i.complete && i.naturalWidth > 0);",
                alert_id,
            )
        )

    def camera_thumbnails(self) -> dict[str, int]:
        """Camera name -> the width of its shown keyframe (0 while none)."""
        return dict(
            self.script(
                "return [...document.querySelectorAll('#live-cameras figure')].map((f) => {"
                " const i = f.querySelector('img');"
                " return [f.dataset.camera, i && !i.hidden && i.complete ? i.naturalWidth : 0]; });"
            )
        )

    def screenshots(self, pages: dict[str, str]) -> list[Path]:
        """Every tab and the ``pages`` (name -> hash), at a laptop's and a phone's size."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        written = []
        for width, height in ((1366, 768), (375, 812)):
            self.driver.set_window_size(width, height)
            for name, view in ({view: f"#/{view}" for view in VIEWS} | pages).items():
                self.script("location.hash = arguments[0]", view)
                self.wait(lambda: self.visible_view() != "")
                self.script("return new Promise((done) => setTimeout(done, 800))")
                path = SCREENSHOTS / f"{name}-{width}x{height}.png"
                assert self.driver.save_screenshot(str(path)), path
                written.append(path)
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        for name, view in (("live", "#/live"), ("alert", pages["alert"])):
            self.script("location.hash = arguments[0]", view)
            self.script("return new Promise((done) => setTimeout(done, 800))")
            path = SCREENSHOTS / f"{name}-dark-375x812.png"
            assert self.driver.save_screenshot(str(path)), path
            written.append(path)
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.driver.set_window_size(1280, 1000)
        return written


@pytest.fixture
def scenes(clip_factory):
    encoding = ClipEncoding(fps=10, gop=10)
    return {
        "lobby": clip_factory.scenes(
            "live-astronaut",
            [
                (letterbox(photo("coffee"), SIZE, 1.0), 3),
                (letterbox(photo("astronaut"), SIZE, 1.05), 5),
                (letterbox(photo("chelsea"), SIZE, 1.0), 6),
            ],
            encoding,
        ),
        "gate": clip_factory.scenes("live-gate", [(letterbox(photo("camera"), SIZE, 1.0), 4)], encoding),
    }


@pytest.fixture
def service(tmp_path: Path, run_pipeline, rtsp_server, scenes) -> Iterator[tuple[object, ApiServer, str, object]]:
    """The pipeline watching two cameras whose RTSP server is not up yet, its API on a free port, a viewer token;
    ``start_cameras()`` starts the RTSP server."""
    port = _free_port()
    tokens_file = tmp_path / "tokens.yaml"
    viewer = create_token(tokens_file, "desk-1", "viewer")[1]
    running = run_pipeline(
        {name: f"rtsp://127.0.0.1:{port}/{name}" for name in scenes},
        sections={"api": {"tokens_file": str(tokens_file), "port": 0}},
    )
    history = AlertOutbox(outbox_path(running.config))
    store = WatchlistStore(running.config.watchlist.database)
    server = start_api(running.config, store, running.pipeline, history, listen("127.0.0.1", 0))
    try:
        yield running, server, viewer, lambda: rtsp_server(scenes, port=port)
    finally:
        server.stop()
        history.close()
        store.close()


def test_the_live_console_follows_a_real_alert_from_open_to_close_and_acknowledges_it(
    browser: WebDriver, service
) -> None:
    running, server, viewer, start_cameras = service
    browser.get(f"{server.url}/ui/")
    console = Console(browser, server.url)
    console.wait(lambda: browser.find_element(By.ID, "token").is_displayed())
    browser.find_element(By.ID, "token").send_keys(viewer)
    browser.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    console.wait(lambda: browser.find_element(By.ID, "signedin").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "nav button[data-view='live']").click()
    console.wait(lambda: console.visible_view() == "view-live" and browser.current_url.endswith("#/live"))
    console.wait(lambda: browser.find_element(By.ID, "live-state").text == "live", timeout=10)
    console.wait(lambda: set(console.camera_thumbnails()) == {"lobby", "gate"}, timeout=10)
    console.script("window.notReloaded = true")

    start_cameras()
    console.wait(lambda: all(console.camera_thumbnails().values()), timeout=60)  # a keyframe per live camera
    states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#live-cameras .state")]
    assert states == ["up", "up"]

    opened = running.recorder.wait_for(lambda m: "/alerts/lobby/" in m.topic and m.json()["event"] == "open", 90)
    alert_id = opened.json()["alert_id"]
    console.wait(lambda: console.row(alert_id) is not None and console.pictures_loaded(alert_id), timeout=2.0)
    row = console.row(alert_id)
    assert "Astronaut" in row.text and row.find_element(By.CSS_SELECTOR, ".state").text in ("open", "updated")

    running.recorder.wait_for(lambda m: "/alerts/lobby/" in m.topic and m.json()["event"] == "close", 60)
    console.wait(lambda: console.row(alert_id).find_element(By.CSS_SELECTOR, ".state").text.startswith("closed after "),
                 timeout=2.0)  # fmt: skip
    assert console.script("return window.notReloaded") is True
    assert console.pictures_loaded(alert_id)  # the closed row keeps its pictures

    console.click_in_row(alert_id, ".ack-button")
    console.wait(lambda: "acknowledged by api:desk-1" in console.row(alert_id).text, timeout=5)
    assert console.row(alert_id).find_elements(By.CSS_SELECTOR, ".ack-button") == []

    # Filters hide the rows that do not match, and show them again.
    # (a row may be re-rendered by a live update while it is read: wait, which retries stale elements)
    browser.find_element(By.ID, "live-label").send_keys("nobody")
    console.wait(lambda: not console.row(alert_id).is_displayed(), timeout=5)
    browser.find_element(By.ID, "live-label").clear()
    browser.find_element(By.ID, "live-label").send_keys("astro")
    console.wait(lambda: console.row(alert_id).is_displayed(), timeout=5)

    # Deep links: the alert's page, an entry's page, and Back/Forward between them.
    console.click_in_row(alert_id, "a.label")
    console.wait(lambda: console.visible_view() == "view-alert" and "acknowledged by api:desk-1" in
                 browser.find_element(By.ID, "alert-body").text)  # fmt: skip
    assert browser.current_url.endswith(f"#/alerts/{alert_id}")
    entry_id = opened.json()["entry"]["id"]
    browser.get(f"{server.url}/ui/#/entries/{entry_id}")
    console.wait(lambda: console.visible_view() == "view-entry" and "Astronaut" in
                 browser.find_element(By.ID, "entry-title").text)  # fmt: skip
    browser.back()
    console.wait(lambda: console.visible_view() == "view-alert")
    browser.back()
    console.wait(lambda: console.visible_view() == "view-live")
    browser.forward()
    console.wait(lambda: console.visible_view() == "view-alert")

    shots = console.screenshots({"alert": f"#/alerts/{alert_id}", "entry": f"#/entries/{entry_id}"})
    print("screenshots:", *shots, sep="\n  ")
    assert console_errors(browser) == []
    browser.execute_script("sessionStorage.clear()")
    browser.get("about:blank")
