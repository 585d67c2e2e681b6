"""The admins' web page in a real headless Chromium against the real API (uvicorn on a free port, a real SQLite
store, the real scene model): signing in and out, adding entries with per-file results, the server's refusals shown
verbatim with nothing stored, a viewer shown a read-only page from sign-in on (``GET /whoami``), an entry's images,
editing it (only the changed fields sent; a refused value shown in the server's words, nothing changed), switching it
off, removing it, the match test, alerts and cameras. Labels are typed with markup in them, to see them shown as
text. The "Search footage" tab is tested in test_web_search.py.

Screenshots land in /tmp (``vigil-web-*.png``) for a person to look at.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from streamer.api.app import create_api
from streamer.api.server import ApiServer
from streamer.config import PostureConfig
from streamer.unknown.clusters import UnknownFaceClusterer
from streamer.unknown.store import UnknownFaceStore
from tests.fixtures.browser import console_errors
from tests.streamer.api import conftest as api_fixtures
from tests.streamer.api.conftest import Api
from tests.streamer.unknown.scenes import FACE_THRESHOLD, see_strangers
from watchlists.embedders import KindEmbedders

# The API tests' fixtures, used here by name: the app over a real store, the scene model, an admin and a viewer token,
# an outbox of three alerts, two cameras, served by uvicorn on a free port; and the reference photos as uploads.
api, live_api, outbox, photo_bytes = (
    api_fixtures.api,
    api_fixtures.live_api,
    api_fixtures.outbox,
    api_fixtures.photo_bytes,
)

LABEL = 'Fire <b>&amp; "smoke"</b>'
"""A label with markup in it: the page must show these characters, not a bold element."""

SCREENSHOTS = Path(os.environ.get("VIGIL_SCREENSHOTS", "/tmp"))


@dataclass
class WebPage:
    """The page in the browser, with the few moves an admin makes."""

    driver: WebDriver
    api: Api

    def by_id(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id: str) -> str:
        return str(self.by_id(element_id).text)

    def wait(self, condition: Callable[[], object], timeout: float = 60.0) -> Any:
        """Until ``condition()`` is truthy (the page works asynchronously)."""
        waiting = WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
        return waiting.until(lambda _: condition())

    def sign_in(self, role: str) -> None:
        self.sign_in_with(self.api.tokens[role])

    def sign_in_with(self, secret: str) -> None:
        self.by_id("token").send_keys(secret)
        self.driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
        self.wait(lambda: self.by_id("signedin").is_displayed() or self.by_id("auth-status").is_displayed())

    def labels(self) -> list[str]:
        return [cell.text for cell in self.driver.find_elements(By.CSS_SELECTOR, "#entries tbody td.label")]

    def add_entry(self, label: str, files: list[Path], kind: str = "anomaly") -> str:
        """Fill and send the add form; the result shown beside it."""
        Select(self.by_id("add-kind")).select_by_value(kind)
        self.by_id("add-label").send_keys(label)
        self.by_id("add-images").send_keys("\n".join(str(f) for f in files))
        self.driver.find_element(By.CSS_SELECTOR, "#add-entry button[type=submit]").click()
        return self.result("add-entry-result")

    def result(self, element_id: str) -> str:
        """The text of a result area once the request is answered."""
        return str(self.wait(lambda: (t := self.text(element_id)) and not t.endswith("…") and t))

    def edit(self, values: dict[str, str]) -> None:
        """Replace the text of edit-form inputs (id -> value) and save."""
        for element_id, value in values.items():
            self.by_id(element_id).clear()
            self.by_id(element_id).send_keys(value)
        self.driver.find_element(By.CSS_SELECTOR, "#edit-entry button[type=submit]").click()

    def open_entry(self, label: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Open {label}']").click()
        self.wait(lambda: self.text("entry-title").startswith(label))

    def alert(self) -> Alert:
        """The browser's confirm dialog, once it is open."""
        return self.wait(lambda: expected_conditions.alert_is_present()(self.driver))  # type: ignore[no-any-return]

    def session_token(self) -> str | None:
        return self.driver.execute_script("return sessionStorage.getItem('vigil.apiToken')")  # type: ignore[no-any-return]

    def screenshot(self, name: str) -> Path:
        path = SCREENSHOTS / name
        assert self.driver.save_screenshot(str(path)), f"no screenshot written to {path}"
        return path


@pytest.fixture
def page(browser: WebDriver, api: Api, live_api: ApiServer) -> Iterator[WebPage]:
    """The page opened at the server's root (redirected to /ui/); fails if the page logged a script error."""
    browser.get(f"{live_api.url}/")
    opened = WebPage(browser, api)
    opened.wait(lambda: opened.by_id("token").is_displayed())
    yield opened
    try:
        browser.switch_to.alert.dismiss()
    except NoAlertPresentException:
        pass
    errors = console_errors(browser)
    browser.execute_script("sessionStorage.clear()")
    browser.get("about:blank")
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def photo_files(tmp_path: Path, photo_bytes: dict[str, bytes]) -> dict[str, Path]:
    """The reference photos as files an admin would pick: name -> path."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in photo_bytes.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in photo_bytes}


def _create(api: Api, label: str, *photos: tuple[str, bytes]) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/watchlist",
        headers=api.headers("admin"),
        data={"kind": "anomaly", "label": label},
        files=[("images", photo) for photo in photos],
    )
    assert response.status_code == 201, response.text
    return response.json()["entry"]  # type: ignore[no-any-return]


def test_an_admin_signs_in_adds_an_anomaly_entry_and_sees_it_listed(
    page: WebPage, photo_files: dict[str, Path]
) -> None:
    page.sign_in("admin")
    page.wait(lambda: page.by_id("entries-empty").is_displayed())

    result = page.add_entry(LABEL, [photo_files["coffee.jpg"], photo_files["rocket.bmp"]])
    page.wait(lambda: page.labels() == [LABEL])
    shot = page.screenshot("vigil-web-list.png")

    assert "2 image(s) stored" in result
    assert "upload:coffee.jpg: stored as image #" in result and "upload:rocket.bmp: stored as image #" in result
    assert page.driver.find_elements(By.CSS_SELECTOR, "#entries b, #add-entry-result b") == []
    row = page.driver.find_element(By.CSS_SELECTOR, "#entries tbody tr").text
    assert "anomaly" in row and "0.75 (default)" in row and "all" in row
    (entry,) = page.api.store.list_entries()
    assert (entry.label, entry.kind, entry.image_count) == (LABEL, "anomaly", 2)
    assert page.api.store.audit(entry.id)[0].actor == "api:admin-1"
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("files", "code", "screenshot"),
    [
        ({"cut.jpg": "truncated coffee"}, "corrupt_image", "vigil-web-error.png"),
        ({"notes.jpg": "text"}, "unsupported_image_type", None),
        ({"huge.png": "3 MB"}, "image_too_large", None),
        ({"coffee.jpg": "coffee", "cut.jpg": "truncated coffee"}, "corrupt_image", None),
        ({"huge.png": "5 MB"}, "request_too_large", None),
    ],
)
def test_a_refused_upload_shows_the_servers_code_and_message_and_nothing_is_stored(
    page: WebPage,
    photo_bytes: dict[str, bytes],
    tmp_path: Path,
    files: dict[str, str],
    code: str,
    screenshot: str | None,
) -> None:
    coffee = photo_bytes["coffee.jpg"]
    contents = {
        "coffee": coffee,
        "truncated coffee": coffee[: len(coffee) // 2],
        "text": b"shopping list: milk, eggs\n",
        "3 MB": b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 1024 * 1024),
        "5 MB": b"\x89PNG\r\n\x1a\n" + os.urandom(5 * 1024 * 1024),
    }
    paths = []
    for name, content in files.items():
        (tmp_path / name).write_bytes(contents[content])
        paths.append(tmp_path / name)
    page.sign_in("admin")

    shown = page.add_entry("cup", paths)
    if screenshot:
        page.screenshot(screenshot)

    server = page.api.client.post(  # the same request, to read the server's own words
        "/api/v1/watchlist",
        headers=page.api.headers("admin"),
        data={"kind": "anomaly", "label": "cup", "threshold": "", "notes": ""},
        files=[("images", (p.name, p.read_bytes())) for p in paths],
    ).json()["error"]
    assert server["code"] == code
    digits = re.compile(r"\d+")  # a body's byte count differs with the browser's multipart boundary
    assert digits.sub("N", f"{code}: {server['message']}\nNothing was stored.") in digits.sub("N", shown)
    for problem in server.get("problems", []):
        assert f"{problem['source']}: {problem['code']} {problem['reason']}" in shown
    assert page.api.nothing_written() and page.labels() == []


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("vgl_not-a-real-token", "token missing or unknown"),
        ("vgl_jörg's token", "token missing or unknown (a token is printable ASCII without spaces, like vgl_…)"),
    ],
)
def test_an_unknown_token_is_refused_at_sign_in_and_not_kept(page: WebPage, secret: str, shown: str) -> None:
    page.sign_in_with(secret)

    assert page.text("auth-status") == shown
    assert page.by_id("signin").is_displayed() and not page.by_id("nav").is_displayed()
    assert page.session_token() is None


ADMIN_ONLY = ("add-entry", "edit-entry", "add-references", "add-negatives", "entry-toggle", "entry-remove")
"""What changes the watchlist: a viewer is not offered these."""


def test_a_viewer_sees_the_page_read_only_from_sign_in_and_after_a_reload(
    page: WebPage, photo_bytes: dict[str, bytes]
) -> None:
    _create(page.api, LABEL, ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("viewer")
    page.wait(lambda: page.labels() == [LABEL])
    note, who, offered = page.text("read-only"), page.text("whoami"), page.by_id("add-entry").is_displayed()
    page.open_entry(LABEL)
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#entry-images img")) == 1)
    page.screenshot("vigil-web-viewer.png")
    offered_on_entry = [name for name in ADMIN_ONLY if page.by_id(name).is_displayed()]
    page.driver.refresh()
    page.wait(lambda: page.text("entry-title").startswith(LABEL))  # the reload keeps the view: #/entries/<id>
    reloaded = page.by_id("read-only").is_displayed() and not page.by_id("entry-toggle").is_displayed()

    assert (note, who, offered, offered_on_entry) == (
        "this token is read-only (viewer)",
        "viewer-1 (viewer)",
        False,
        [],
    )
    assert reloaded


def test_signing_out_a_viewer_and_in_as_an_admin_offers_the_forms_again(page: WebPage) -> None:
    page.sign_in("viewer")
    page.wait(lambda: page.by_id("read-only").is_displayed())
    page.by_id("signout").click()
    page.sign_in("admin")
    page.wait(lambda: page.by_id("entries-empty").is_displayed())

    assert page.by_id("add-entry").is_displayed() and not page.by_id("read-only").is_displayed()
    assert page.text("whoami") == "admin-1 (admin)"


def test_an_admin_opens_an_entry_sees_its_images_switches_it_off_and_removes_it(
    page: WebPage,
    photo_bytes: dict[str, bytes],
    photo_files: dict[str, Path],
) -> None:
    entry = _create(page.api, LABEL, ("c.jpg", photo_bytes["coffee.jpg"]), ("r.bmp", photo_bytes["rocket.bmp"]))
    page.sign_in("admin")
    page.wait(lambda: page.labels() == [LABEL])
    page.open_entry(LABEL)

    def loaded_thumbnails() -> list[int]:
        images = page.driver.find_elements(By.CSS_SELECTOR, "#entry-images img")
        return [page.driver.execute_script("return arguments[0].naturalWidth", img) for img in images]

    page.wait(lambda: 0 not in loaded_thumbnails() and len(loaded_thumbnails()) == 2)
    assert loaded_thumbnails() == [600, 640]  # coffee (600x400) and rocket (640x427), decoded by the browser
    page.by_id("more-negatives").send_keys(str(photo_files["chelsea.png"]))
    page.driver.find_element(By.CSS_SELECTOR, "#add-negatives button[type=submit]").click()
    negatives = page.result("add-negatives-result")
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#entry-negatives img")) == 1)
    page.by_id("entry-toggle").click()
    page.wait(lambda: page.text("entry-toggle") == "Enable entry")
    page.screenshot("vigil-web-entry.png")
    disabled = page.api.store.get_entry(entry["id"]).enabled is False

    page.by_id("entry-remove").click()
    confirm = page.alert()
    question = confirm.text
    confirm.accept()
    removed = page.result("entries-status")

    assert "upload:chelsea.png: stored as negative #" in negatives and disabled
    assert question == f"Remove {LABEL} (anomaly) with all its images? This cannot be undone."
    assert removed == f"Removed {LABEL}." and page.labels() == []
    assert page.api.store.list_entries() == []
    assert [a.action for a in page.api.store.audit(entry["id"])] == [
        "entry.removed",
        "entry.updated",
        "negatives.added",
        "entry.created",
    ]


def test_an_admin_adds_reference_images_to_an_entry_then_deletes_one_but_not_the_last(
    page: WebPage, photo_bytes: dict[str, bytes], photo_files: dict[str, Path]
) -> None:
    entry = _create(page.api, LABEL, ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("admin")
    page.wait(lambda: page.labels() == [LABEL])
    page.open_entry(LABEL)
    images = lambda: [i.source for i in page.api.store.entry_images(entry["id"])]  # noqa: E731

    page.by_id("more-images").send_keys(str(photo_files["rocket.bmp"]))
    page.driver.find_element(By.CSS_SELECTOR, "#add-references button[type=submit]").click()
    uploaded = page.result("add-references-result")
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#entry-images figure")) == 2)
    stored_after_upload = images()

    first_id = page.api.store.entry_images(entry["id"])[0].id
    page.driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Delete reference image #{first_id}']").click()
    question = page.alert().text
    page.alert().accept()
    deleted = page.result("entry-images-result")
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#entry-images figure")) == 1)
    stored_after_delete = images()

    last_id = page.api.store.entry_images(entry["id"])[0].id
    page.driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Delete reference image #{last_id}']").click()
    page.alert().accept()
    page.wait(lambda: page.text("entry-images-result") != deleted)  # the last answer stays until the new one
    refused = page.result("entry-images-result")

    assert "upload:rocket.bmp: stored as image #" in uploaded, uploaded  # the form was sent by the page, not natively
    assert stored_after_upload == ["upload:c.jpg", "upload:rocket.bmp"]
    assert question == f"Delete reference image #{first_id} (upload:c.jpg)? This cannot be undone."
    assert deleted == f"Deleted reference image #{first_id}." and stored_after_delete == ["upload:rocket.bmp"]
    assert refused.startswith("last_image: ") and "Nothing was deleted." in refused
    assert images() == ["upload:rocket.bmp"]
    assert page.api.store.audit(entry["id"])[0].action == "images.removed"


def test_an_admin_edits_the_label_and_threshold_and_sees_them_on_the_page_and_in_the_store(
    page: WebPage, photo_bytes: dict[str, bytes]
) -> None:
    entry = _create(page.api, "cup", ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("admin")
    page.wait(lambda: page.labels() == ["cup"])
    page.open_entry("cup")
    page.wait(lambda: page.by_id("edit-label").get_attribute("value") == "cup")

    page.edit({"edit-label": LABEL, "edit-threshold": "0.82"})
    saved = page.result("edit-entry-result")
    page.wait(lambda: page.text("entry-title") == f"{LABEL} (anomaly)")
    page.screenshot("vigil-web-edit.png")

    facts = page.text("entry-facts")
    history = page.driver.find_elements(By.CSS_SELECTOR, "#entry-audit tbody tr td:last-child")[0].text
    stored = page.api.store.get_entry(entry["id"])
    assert saved == "Saved: label, threshold."
    assert "Threshold\n0.82" in facts and "Cameras\nall" in facts
    assert history == f"entry.updated: label cup → {LABEL}; threshold default → 0.82"
    assert page.driver.find_elements(By.CSS_SELECTOR, "#view-entry b") == []
    assert (stored.label, stored.threshold, stored.cameras, stored.enabled) == (LABEL, 0.82, (), True)
    last = page.api.store.audit(entry["id"])[0]
    assert (last.action, last.actor) == ("entry.updated", "api:admin-1")
    assert last.detail == {"changes": {"label": ["cup", LABEL], "threshold": [None, 0.82]}}  # only what changed


def test_an_out_of_range_threshold_shows_the_servers_message_and_changes_nothing(
    page: WebPage, photo_bytes: dict[str, bytes]
) -> None:
    entry = _create(page.api, "cup", ("c.jpg", photo_bytes["coffee.jpg"]))
    before, revision = page.api.store.get_entry(entry["id"]), page.api.store.revision()
    page.sign_in("admin")
    page.wait(lambda: page.labels() == ["cup"])
    page.open_entry("cup")
    page.wait(lambda: page.by_id("edit-label").get_attribute("value") == "cup")

    page.edit({"edit-label": "mug", "edit-threshold": "1.5"})
    shown = page.result("edit-entry-result")
    page.screenshot("vigil-web-edit-refused.png")

    server = page.api.client.patch(  # the same request, to read the server's own words
        f"/api/v1/watchlist/{entry['id']}", headers=page.api.headers("admin"), json={"label": "mug", "threshold": 1.5}
    ).json()["error"]
    assert server["code"] == "invalid_entry"
    assert shown == f"invalid_entry: {server['message']}\nNothing was changed."
    assert page.api.store.get_entry(entry["id"]) == before and page.api.store.revision() == revision
    assert page.text("entry-title") == "cup (anomaly)" and "0.75 (the kind's default)" in page.text("entry-facts")
    assert page.by_id("edit-threshold").get_property("value") == "1.5"  # kept, for the admin to correct


def test_declining_the_confirmation_keeps_the_entry(page: WebPage, photo_bytes: dict[str, bytes]) -> None:
    _create(page.api, "cup", ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("admin")
    page.wait(lambda: page.labels() == ["cup"])
    page.open_entry("cup")

    page.by_id("entry-remove").click()
    page.alert().dismiss()

    assert page.by_id("view-entry").is_displayed() and len(page.api.store.list_entries()) == 1


def test_testing_an_image_shows_what_it_matches_with_scores(
    page: WebPage,
    photo_bytes: dict[str, bytes],
    photo_files: dict[str, Path],
) -> None:
    _create(page.api, LABEL, ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("admin")
    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=match]").click()

    def match(name: str) -> list[str]:
        page.by_id("match-image").send_keys(str(photo_files[name]))
        page.driver.find_element(By.CSS_SELECTOR, "#match-form button[type=submit]").click()
        page.wait(lambda: page.text("match-result").startswith(name))
        cells = page.driver.find_elements(By.CSS_SELECTOR, "#match-result tbody td")
        return [cell.text for cell in cells] or [page.text("match-result")]

    cup, cat = match("coffee.jpg"), match("chelsea.png")

    assert (cup[0], cup[2], cup[3]) == (LABEL, "0.750", "Open") and float(cup[1]) > 0.99  # the very image: cosine ~1
    assert cat[0].endswith("No entry matches this image at or over its threshold.")


def test_alerts_and_camera_states_are_shown(page: WebPage) -> None:
    page.sign_in("viewer")

    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=alerts]").click()
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) == 3)
    alerts = [c.text for c in page.driver.find_elements(By.CSS_SELECTOR, "#alerts tbody td.label")]
    page.by_id("alerts-camera").send_keys("gate")
    page.by_id("refresh-alerts").click()
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) == 1)
    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=cameras]").click()
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#cameras tbody tr")) == 2)
    cameras = [row.text for row in page.driver.find_elements(By.CSS_SELECTOR, "#cameras tbody tr")]

    assert alerts == ["third", "second", "first"]  # newest first
    assert cameras[0].startswith("gate reconnecting") and cameras[0].endswith("connection refused")
    assert cameras[1].startswith("lobby up")


def test_signing_out_forgets_the_token_and_clears_what_was_shown(
    page: WebPage,
    photo_bytes: dict[str, bytes],
) -> None:
    _create(page.api, "cup", ("c.jpg", photo_bytes["coffee.jpg"]))
    page.sign_in("admin")
    page.wait(lambda: page.labels() == ["cup"])

    page.by_id("signout").click()
    cleared = page.labels() == [] and page.session_token() is None
    page.driver.refresh()
    page.wait(lambda: page.by_id("token").is_displayed())

    assert cleared and not page.by_id("nav").is_displayed()
    assert page.api.tokens["admin"] not in page.driver.current_url


@pytest.fixture
def strangers(page: WebPage, tmp_path: Path, face_pipeline, face_photos, scene_embedder) -> UnknownFaceStore:
    """The served node has seen two strangers (real face photos through the real face pipeline) and can enrol faces."""
    store = UnknownFaceStore(tmp_path / "unknown.db")
    see_strangers(UnknownFaceClusterer(store, face_pipeline.version, FACE_THRESHOLD), face_pipeline, face_photos)
    page.api.context.unknown = store
    page.api.context.embedders = KindEmbedders({"anomaly": lambda: scene_embedder, "face": lambda: face_pipeline})
    yield store
    store.close()


def test_an_admin_adds_an_unknown_face_to_the_watchlist_from_its_tab(page: WebPage, strangers) -> None:
    page.sign_in("admin")
    page.wait(lambda: page.by_id("nav").is_displayed())
    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=unknown]").click()
    cards = lambda: page.driver.find_elements(By.CSS_SELECTOR, "#unknown-clusters figure.cluster")  # noqa: E731
    page.wait(lambda: len(cards()) == 2)
    first = page.driver.find_element(By.CSS_SELECTOR, "figure.cluster[data-cluster='unknown-1']")
    # An <img> has no src until the page has fetched its picture: wait for every one to show a fetched blob.
    page.wait(
        lambda: (
            (images := first.find_elements(By.TAG_NAME, "img"))
            and all((img.get_attribute("src") or "").startswith("blob:") for img in images)
        )
    )
    caption = first.find_element(By.TAG_NAME, "figcaption").text
    first.find_element(By.NAME, "label").send_keys("Grace Hopper")
    first.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    outcome = page.wait(lambda: (t := first.find_element(By.CSS_SELECTOR, ".result").text) and "stored in" in t and t)
    page.screenshot("unknown-faces.png")

    assert "Unknown 1" in caption and "3 sighting(s)" in caption and "gate" in caption and "lobby" in caption
    assert outcome.startswith("Unknown 1: ") and outcome.endswith("stored in Grace Hopper.")
    (entry,) = page.api.store.list_entries("face")
    assert entry.label == "Grace Hopper" and strangers.get("unknown-1").promoted_entry == entry.id


def test_a_viewer_sees_the_strangers_but_not_the_form(page: WebPage, strangers) -> None:
    page.sign_in("viewer")
    page.wait(lambda: page.by_id("nav").is_displayed())
    page.driver.find_element(By.CSS_SELECTOR, "nav button[data-view=unknown]").click()
    page.wait(lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "figure.cluster")) == 2)
    forms = page.driver.find_elements(By.CSS_SELECTOR, "form.promote")
    assert forms and not any(form.is_displayed() for form in forms)


def test_an_entry_matched_by_posture_says_so_on_its_page(
    browser: WebDriver, api: Api, photo_bytes: dict[str, bytes]
) -> None:
    server = ApiServer(create_api(dataclasses.replace(api.context, posture=PostureConfig())), "127.0.0.1", 0)
    server.start()
    try:
        _create(api, "Fall", ("c.jpg", photo_bytes["coffee.jpg"]))
        browser.get(f"{server.url}/")
        page = WebPage(browser, api)
        page.wait(lambda: page.by_id("token").is_displayed())
        page.sign_in("viewer")
        page.wait(lambda: page.labels() == ["Fall"])
        page.open_entry("Fall")
        page.wait(lambda: "posture, not its photos" in page.text("entry-facts"))
        assert "person score at least 0.7 (0.55 where someone stood a keyframe before)" in page.text("entry-facts")
        assert "0.75 (the kind's default): cosine similarity, not used while matched by posture" in page.text(
            "entry-facts"
        )
        assert console_errors(browser) == []
    finally:
        browser.execute_script("sessionStorage.clear()")
        browser.get("about:blank")
        server.stop()
