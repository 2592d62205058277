"""The provider's own UI in a real Airflow: the "Kling" task-instance tab (players) and the "Kling" page.

Runs after test_airflow_ui.py on the same stack: it re-uses a finished ``kling_content_pipeline``
run (or triggers one). Screenshots land in ``artifacts/ui/`` with the others.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import Frame, Page, expect

from tests.ui.conftest import Shots
from tests.ui.stack import Stack

pytestmark = pytest.mark.ui

DAG_ID = "kling_content_pipeline"
RUN_TIMEOUT = 240.0


def finished_run(stack: Stack) -> str:
    """A successful run of the pipeline that published to a local folder (an earlier test's, or a new one)."""
    runs = stack.api(f"dags/{DAG_ID}/dagRuns?state=success&order_by=-start_date")["dag_runs"]
    if runs:
        return str(runs[0]["dag_run_id"])
    conf = {"prompt": "A paper boat on a rainy street", "destination": f"file://{stack.home}/published_views"}
    run_id = stack.trigger(DAG_ID, conf)
    assert stack.wait_for_run(DAG_ID, run_id, RUN_TIMEOUT) == "success"
    return run_id


def plugin_frame(page: Page, route: str, timeout: float = 40.0) -> Frame:
    """The iframe Airflow's UI opens for a plugin view whose href starts with ``route``."""
    deadline = time.monotonic() + timeout
    while True:
        frame = next((f for f in page.frames if urllib.parse.urlsplit(f.url).path.startswith(route)), None)
        if frame is not None or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert frame is not None, [f.url for f in page.frames]
    frame.wait_for_load_state()
    return frame


def media_state(frame: Frame, selector: str) -> dict[str, Any]:
    return frame.eval_on_selector(
        selector,
        "e => ({readyState: e.readyState, currentTime: e.currentTime, duration: e.duration,"
        " error: e.error && e.error.code, src: e.currentSrc})",
    )


def test_the_kling_tab_plays_the_video_and_loads_the_audio(
    page: Page, stack: Stack, shots: Shots, summary: list[str]
) -> None:
    run_id = finished_run(stack)
    run_url = f"/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"
    # The extra link: Airflow stored it in XCom on the worker; 3.3 shows it on the Details tab.
    page.goto(f"{run_url}/tasks/make_video/details")
    link = page.get_by_role("link", name="Kling result")
    expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(stack.emulator_url)}/results/.+\.mp4$"))
    shots(page, "kling-extra-link")
    page.goto(f"{run_url}/tasks/make_video/plugin/kling")
    frame = plugin_frame(page, "/kling/ti/")
    video = "video.kling-video"
    frame.wait_for_selector(video)
    frame.wait_for_function(f"() => document.querySelector('{video}').readyState >= 2", timeout=30_000)
    frame.eval_on_selector(video, "e => e.play()")
    before = media_state(frame, video)["currentTime"]
    frame.wait_for_function(
        f"() => document.querySelector('{video}').currentTime > {before} + 0.5", timeout=30_000
    )
    state = media_state(frame, video)
    assert state["readyState"] >= 2 and state["currentTime"] > before, state
    frame.eval_on_selector(video, "e => e.pause()")
    expect(frame.get_by_text("accepted by Kling")).to_be_visible()
    expect(frame.get_by_text("Kling task id")).to_be_visible()
    shots(page, "kling-tab-video", full_page=True)
    summary.append(f"Kling tab (make_video): video {state}")

    page.goto(f"{run_url}/tasks/make_audio/plugin/kling")
    frame = plugin_frame(page, "/kling/ti/")
    audio = "audio.kling-audio"
    frame.wait_for_selector(audio)
    frame.wait_for_function(f"() => document.querySelector('{audio}').readyState >= 2", timeout=30_000)
    state = media_state(frame, audio)
    assert state["duration"] > 0 and state["error"] is None, state
    shots(page, "kling-tab-audio", full_page=True)
    summary.append(f"Kling tab (make_audio): audio {state}")


def test_the_kling_page_shows_the_packs_and_a_chart(
    page: Page, stack: Stack, shots: Shots, summary: list[str]
) -> None:
    finished_run(stack)
    page.goto("/plugin/kling-overview")
    frame = plugin_frame(page, "/kling/overview")
    # one table per readable kling connection (test_airflow_ui.py added some); kling_default first
    packs = frame.locator("table.kling-packs").first
    expect(packs).to_contain_text("Emulator video pack")
    expect(packs).to_contain_text("online")
    tables = frame.locator("table.kling-packs").count()
    expect(frame.locator("svg.kling-chart rect").first).to_be_visible()
    expect(frame.get_by_text(re.compile("lag the real spend by up to 12 hours"))).to_be_visible()
    expect(frame.get_by_text(DAG_ID).first).to_be_visible()
    shots(page, "kling-page", full_page=True)
    bars = frame.locator("svg.kling-chart rect").count()
    summary.append(f"Kling page: {tables} pack tables, {bars} bars")


# Anonymous refusal is not checked here: this stack runs with SIMPLE_AUTH_MANAGER_ALL_ADMINS (everyone
# is an admin, also for Airflow's own API); tests/plugins and tests/compat check it with real auth.
