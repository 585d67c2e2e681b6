"""The web page's "Search footage" tab in a real headless Chromium against the real API over a real keyframe archive
(real photos embedded by the real scene model, ``tests/fixtures/archive.py``): the best keyframes first with their
thumbnails (fetched with the token), camera, local time and score; the filters, with times typed in the browser's
local zone (Europe/Berlin here, so a missing conversion to UTC shows); an empty result; the archive switched off.

The search results are screenshot to /tmp/vigil-web-search.png for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.by import By

from engines.scene import SceneEmbedder
from streamer.archive.keyframes import KeyframeArchive
from tests.fixtures.archive import SCENES, T0, fill_archive
from tests.streamer import test_web_page
from tests.streamer.test_web_page import WebPage
from tests.watchlists.samples import encode

# The web page tests' fixtures, used here by name (the API over a real store, served by uvicorn; the page opened).
api, live_api, outbox, page = test_web_page.api, test_web_page.live_api, test_web_page.outbox, test_web_page.page

MINUTES = {(camera, photo): minutes for camera, photo, minutes in SCENES}


@pytest.fixture
def archived(
    page: WebPage, tmp_path: Path, scene_embedder: SceneEmbedder, reference_images: dict[str, np.ndarray]
) -> Iterator[dict[int, tuple[str, str]]]:
    """The served API's archive: four keyframes (lobby: coffee, astronaut; gate: cat, astronaut); id -> scene."""
    archive = KeyframeArchive(tmp_path / "archive")
    page.api.context.archive = archive
    yield fill_archive(archive, scene_embedder, reference_images)
    archive.close()


@pytest.fixture
def berlin(page: WebPage) -> Iterator[None]:
    """The browser in Europe/Berlin (UTC+1 in November), so local times differ from the archive's UTC."""
    page.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})  # type: ignore[attr-defined]
    yield
    page.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})  # type: ignore[attr-defined]


@pytest.fixture
def astronaut_crop(tmp_path: Path, reference_images: dict[str, np.ndarray]) -> Path:
    """A crop of the astronaut photo: like two archived keyframes, not byte-equal to any."""
    path = tmp_path / "crop.jpg"
    path.write_bytes(encode(reference_images["astronaut"][20:380, 80:440], "JPEG"))
    return path


def _search(page: WebPage, image: Path, **fields: str) -> str:
    """Open the tab, fill the form (datetime-local values set as the browser's picker would), search; the result."""
    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=search]").click()
    page.by_id("search-image").send_keys(str(image))
    for name, value in fields.items():
        page.driver.execute_script("arguments[0].value = arguments[1]", page.by_id(f"search-{name}"), value)
    page.driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    return page.result("search-result")


def _cards(page: WebPage) -> list[tuple[int, list[str]]]:
    """Each result shown: its keyframe id and caption lines."""
    figures = page.driver.find_elements(By.CSS_SELECTOR, "#keyframes figure")
    return [
        (int(f.get_attribute("data-keyframe-id")), f.find_element(By.TAG_NAME, "figcaption").text.split("\n"))
        for f in figures
    ]


def _loaded_thumbnails(page: WebPage) -> list[int]:
    images = page.driver.find_elements(By.CSS_SELECTOR, "#keyframes img")
    return [page.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) for i in images]


def test_searching_footage_shows_the_astronaut_keyframes_first_with_camera_local_time_and_score(
    page: WebPage, archived: dict[int, tuple[str, str]], berlin: None, astronaut_crop: Path
) -> None:
    page.sign_in("viewer")

    heading = _search(page, astronaut_crop)
    page.wait(lambda: len(_loaded_thumbnails(page)) == 4 and 0 not in _loaded_thumbnails(page))
    shot = page.screenshot("vigil-web-search.png")

    cards = _cards(page)
    scenes = [archived[keyframe_id] for keyframe_id, _ in cards]
    scores = [float(lines[2].removeprefix("score ")) for _, lines in cards]
    assert heading.startswith("crop.jpg: 4 keyframe(s), best first (mobilenet_v2@")
    assert set(scenes[:2]) == {("lobby", "astronaut"), ("gate", "astronaut")}
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[2]
    for (_, lines), (camera, photo) in zip(cards, scenes, strict=True):
        utc = T0 + timedelta(minutes=MINUTES[camera, photo])
        local = page.driver.execute_script("return new Date(arguments[0]).toLocaleString()", utc.isoformat())
        assert lines[:2] == [camera, local]
    offset = page.driver.execute_script("return new Date(arguments[0]).getTimezoneOffset()", T0.isoformat())
    assert offset == -60 and shot.stat().st_size > 10_000  # the captions above are Berlin time, not UTC


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"camera": "gate"}, [("gate", "astronaut"), ("gate", "chelsea")]),
        ({"since": "2026-11-24T09:15:00"}, [("gate", "astronaut"), ("gate", "chelsea")]),  # 08:15 UTC
        ({"until": "2026-11-24T09:05:00"}, [("lobby", "coffee")]),  # 08:05 UTC
        ({"camera": "lobby", "top-k": "1"}, [("lobby", "astronaut")]),
    ],
    ids=["camera", "since in local time", "until in local time", "camera and top-k"],
)
def test_search_filters_reach_the_server_with_times_in_utc(
    page: WebPage,
    archived: dict[int, tuple[str, str]],
    berlin: None,
    astronaut_crop: Path,
    fields: dict[str, str],
    expected: list[tuple[str, str]],
) -> None:
    page.sign_in("viewer")

    _search(page, astronaut_crop, **fields)

    assert [archived[keyframe_id] for keyframe_id, _ in _cards(page)] == expected


def test_a_search_nothing_matches_says_so(
    page: WebPage, archived: dict[int, tuple[str, str]], astronaut_crop: Path
) -> None:
    page.sign_in("viewer")

    shown = _search(page, astronaut_crop, camera="nowhere")

    assert shown.endswith("\nNo keyframe looks like this.") and _cards(page) == []


def test_with_the_archive_off_the_servers_error_is_shown_verbatim(page: WebPage, astronaut_crop: Path) -> None:
    page.sign_in("admin")

    shown = _search(page, astronaut_crop)

    server = page.api.client.post(  # the same request, to read the server's own words
        "/api/v1/search", headers=page.api.headers("admin"), files={"image": ("crop.jpg", astronaut_crop.read_bytes())}
    ).json()["error"]
    assert server["code"] == "archive_disabled"
    assert shown == f"archive_disabled: {server['message']}"
