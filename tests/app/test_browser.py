"""The app in a real browser (Debian chromium driven by playwright): one generation per tab, the videos play,
and a screenshot of each tab is taken (each kept under 500 KB).

Screenshots go to a temporary folder, so running the tests never changes the tracked files. To refresh the
committed ones, run with ``V2V_REFRESH_SCREENSHOTS=1``: they are then written to ``docs/screenshots/`` — which
needs real models (the shipped ones, or V2V_TEST_MODELS_DIR's), not the tiny random stand-ins.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
MAX_SHOT_BYTES = 500_000
VIDEO_READY = """(sel) => { const v = document.querySelector(sel + ' video');
  return !!v && v.readyState >= 2 && v.duration > 0; }"""
VIDEO_STATE = """(sel) => { const v = document.querySelector(sel + ' video');
  return v ? {ready: v.readyState, duration: v.duration, time: v.currentTime, error: v.error && v.error.code,
              ended: v.ended, src: v.currentSrc} : null; }"""


REFRESH = "V2V_REFRESH_SCREENSHOTS"


@pytest.fixture(scope="module")
def shots(app_models, tmp_path_factory) -> Path:
    """docs/screenshots/ when asked to refresh them (V2V_REFRESH_SCREENSHOTS=1), else a temporary folder."""
    if os.environ.get(REFRESH, "").strip() not in ("1", "true", "yes"):
        return tmp_path_factory.mktemp("screenshots")
    if app_models["tiny"]:
        pytest.fail(f"{REFRESH}=1 would commit screenshots of the tiny random test models; install the shipped models "
                    "(assets/models) or point V2V_TEST_MODELS_DIR at real ones")
    return SHOTS


@pytest.fixture(scope="module")
def page(app_url):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(app_url)
        pg.wait_for_selector("text=vid2vid studio", timeout=60_000)
        yield pg
        browser.close()
        assert not errors, f"javascript errors on the page: {errors}"


def assert_plays(pg, selector: str, timeout_s: float = 180) -> dict:
    """The video element of ``selector`` gets a source, loads, has a duration, and its time moves."""
    pg.wait_for_function(VIDEO_READY, arg=selector, timeout=timeout_s * 1000)
    pg.evaluate("(sel) => { const v = document.querySelector(sel + ' video'); v.muted = true; return v.play(); }",
                selector)
    first = pg.evaluate(VIDEO_STATE, selector)
    time.sleep(0.8)
    second = pg.evaluate(VIDEO_STATE, selector)
    # a short clip may already have ended (Chromium then reports readyState 1): playing means no error, a duration,
    # and the playhead moved or reached the end
    assert first["error"] is None and second["error"] is None, second
    assert first["ready"] >= 2 or second["ready"] >= 2 or second["ended"], (first, second)
    assert second["duration"] > 0 and (second["time"] != first["time"] or second["ended"]), (first, second)  # moved (loops)
    return second


def save_shot(pg, folder: Path, name: str) -> Path:
    """Screenshot of the whole page, written as PNG under 500 KB (fewer colours when needed)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    png = pg.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    path = folder / f"{name}.png"
    for colors in (None, 256, 128, 64):
        out = image if colors is None else image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        out.save(buf, "PNG", optimize=True)
        if buf.tell() < MAX_SHOT_BYTES:
            break
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < MAX_SHOT_BYTES
    return path


def test_screenshots_go_to_a_temporary_folder_unless_asked(shots, app_models):
    """Running the tests must not rewrite the tracked docs/screenshots/*.png (not even with the shipped models)."""
    if os.environ.get(REFRESH, "").strip() in ("1", "true", "yes"):
        assert shots == SHOTS
    else:
        assert shots.resolve() != SHOTS.resolve() and ROOT.resolve() not in shots.resolve().parents


@pytest.mark.browser
def test_street_tab_generates_a_playable_video(page, shots):
    page.wait_for_selector("#street-frame img", timeout=60_000)  # the first example loads by itself
    page.click("#street-generate")
    state = assert_plays(page, "#street-video")
    assert state["src"].endswith(".mp4")
    page.wait_for_selector("#street-status :text('Done')", timeout=60_000)
    save_shot(page, shots, "street")


@pytest.mark.browser
def test_street_tab_keeps_the_scene_after_a_bad_upload_and_a_class_after_a_relabel(page, tmp_path):
    frame_before = page.get_attribute("#street-frame img", "src")
    bad = tmp_path / "labels.zip"
    bad.write_text("this is not a zip\n" * 50)
    page.get_by_text("...or upload your own labels").click()
    page.locator("#street-labels-file input[type=file]").set_input_files(str(bad))
    page.wait_for_selector("#street-labels-file :text('labels.zip')", timeout=30_000)
    page.click("#street-load-upload")
    page.wait_for_selector("#street-upload-message :text('Upload not loaded')", timeout=30_000)
    toast = page.locator("[data-testid=toast-body]").first
    toast.wait_for(timeout=10_000)
    assert "Upload not loaded" in toast.inner_text() and "not a readable zip" in toast.inner_text()
    page.locator("[data-testid=toast-close]").first.click()  # (it would show in the next screenshots)
    assert page.get_attribute("#street-frame img", "src") == frame_before  # the scene stays, without Error badges
    assert "Error" not in page.inner_text("#street-frame") and "Error" not in page.inner_text("#street-status")
    # relabel the selected class in every frame: the "Change class" dropdown moves to a class still there
    gone = page.input_value("#street-src input")
    page.get_by_label("all frames").check()
    page.click("#street-relabel")
    page.wait_for_selector("#street-history :text('Edits: 1.')", timeout=30_000)
    time.sleep(0.5)
    now = page.input_value("#street-src input")
    assert gone and now and now != gone, (gone, now)
    page.click("#street-undo")
    page.wait_for_selector("#street-history :text('No edits yet')", timeout=30_000)
    assert page.input_value("#street-src input") == now


@pytest.mark.browser
def test_style_tab_rerolls_an_object(page, shots):
    page.get_by_role("tab", name="Style").click()
    page.click("#style-find")
    page.wait_for_selector("#style-gallery button img, #style-gallery img", timeout=60_000)
    page.locator("#style-gallery img").first.click()
    page.wait_for_selector("#style-selected :text('Selected')", timeout=30_000)
    page.click("#style-dice-one")
    assert_plays(page, "#style-video")
    page.wait_for_selector("#style-status :text('Done')", timeout=60_000)
    # the colour picker paints the selected object: a new video (its file name counts the runs)
    before = page.evaluate("() => document.querySelector('#style-video video').src")
    page.click("#style-paint")
    page.wait_for_function("(prev) => { const v = document.querySelector('#style-video video'); "
                           "return v && v.src && v.src !== prev; }", arg=before, timeout=120_000)
    assert_plays(page, "#style-video")
    page.wait_for_selector("#style-status :text('Done')", timeout=60_000)
    save_shot(page, shots, "style")


@pytest.mark.browser
def test_motion_tab_dances_the_procedural_motion(page, shots):
    page.get_by_role("tab", name="Motion transfer").click()
    page.locator("#motion-choice").get_by_text("procedural dance").click()
    page.click("#motion-extract")
    assert_plays(page, "#motion-skeleton")
    page.click("#motion-generate")
    assert_plays(page, "#motion-result")
    assert_plays(page, "#motion-sbs")
    page.wait_for_selector("#motion-status :text('Done')", timeout=60_000)
    save_shot(page, shots, "motion")


@pytest.mark.browser
@pytest.mark.realdata
def test_motion_tab_with_an_uploaded_clip(page, shared_data):
    """Upload a real clip; no screenshot here: nothing derived from the shared data may be committed."""
    page.get_by_role("tab", name="Motion transfer").click()
    before = page.evaluate(VIDEO_STATE, "#motion-result")
    page.locator("#motion-choice").get_by_text("my clip").click()
    page.locator("#motion-upload input[type=file]").set_input_files(str(shared_data / "driving" /
                                                                         "musepose_dance.mp4"))
    page.wait_for_selector("#motion-upload video", timeout=60_000)
    page.click("#motion-generate")
    page.wait_for_function("([sel, old]) => { const v = document.querySelector(sel + ' video');"
                           " return !!v && !!v.currentSrc && v.currentSrc !== old; }",
                           arg=["#motion-result", before["src"] if before else ""], timeout=240_000)
    assert_plays(page, "#motion-result")
    assert_plays(page, "#motion-sbs")
    assert "Pose found" in page.inner_text("#motion-status") or "Done" in page.inner_text("#motion-status")
