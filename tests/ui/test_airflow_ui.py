"""The provider in the real Airflow 3 UI, driven by headless Chromium against a local stack.

Run with ``bash tests/ui/run_ui_check.sh`` (installs Chromium and Playwright, then ``pytest -m ui``).
Every step saves a screenshot under ``artifacts/ui/``. The REST API is only used to wait for a
run to finish and to count runs; what the user sees is asserted in the browser.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Locator, Page, expect

from airflow_provider_kling.get_provider_info import DOCS_URL, get_provider_info
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.ui.conftest import Shots
from tests.ui.stack import REPO, Stack, wait_until

pytestmark = pytest.mark.ui

RUN_TIMEOUT = 240.0  # seconds for one DAG run on a cold 2-core stack


@dataclass(frozen=True)
class DagCase:
    dag_id: str
    audio_task: str
    # task id -> Kling kind shown in its status lines
    kling_tasks: dict[str, str]
    # trigger-form input name -> value typed by the "user"
    fields: dict[str, str] = field(default_factory=dict)
    publishes: bool = False


CASES = [
    DagCase(
        "kling_content_pipeline",
        audio_task="make_audio",
        kling_tasks={"make_video": "text2video", "make_audio": "video-to-audio"},
        fields={
            "element_prompt": "A paper boat drifting down a rainy street, close-up, evening light",
            "element_sound_effect_prompt": "Rain drops on paper, distant traffic",
            "element_bgm_prompt": "Soft lo-fi beat",
        },
        publishes=True,
    ),
    DagCase(
        "kling_video_to_audio",
        audio_task="video_to_audio",
        kling_tasks={"video_to_audio": "video-to-audio"},
        fields={
            "element_sound_effect_prompt": "Rain on a tin roof, close microphone",
            "element_bgm_prompt": "Calm lo-fi piano",
        },
    ),
]
KLING_BEHAVIOUR = get_provider_info()["connection-types"][0]["ui-field-behaviour"]


def require_dag_file(case: DagCase) -> None:
    """Every case runs: a renamed or deleted example DAG fails its case instead of dropping it."""
    dag_file = REPO / "dags" / f"{case.dag_id}.py"
    if not dag_file.is_file():
        pytest.fail(f"{case.dag_id}: its DAG file {dag_file} is missing (rename the case with the DAG)")


def toast(page: Page, title: str, text: str) -> Locator:
    """The toast with this title whose description mentions ``text`` (toasts stack up)."""
    return (
        page.locator("[data-scope=toast][data-part=root]")
        .filter(has=page.get_by_text(title, exact=True))
        .filter(has_text=text)
    )


def add_kling_connection(
    page: Page, shots: Shots, conn_id: str, *, port: int | None, password: str, inspect: bool = False
) -> None:
    """Admin → Connections → Add, through the form only."""
    page.goto("/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    combo = dialog.get_by_role("combobox")
    combo.click()
    combo.fill("Kling")
    option = page.get_by_role("option", name="Kling AI")
    expect(option).to_be_visible()
    if inspect:
        shots(page, "connection-type-listed")
    option.click()
    relabel = KLING_BEHAVIOUR["relabeling"]
    if inspect:
        placeholders = KLING_BEHAVIOUR["placeholders"]
        for name, label in relabel.items():
            field_ = dialog.get_by_label(label, exact=True)
            expect(field_).to_be_visible()
            expect(field_).to_have_attribute("placeholder", placeholders[name])
        expect(dialog.get_by_label("Port", exact=True)).to_have_attribute("placeholder", placeholders["port"])
        # Airflow's generic labels and the hidden "Schema" field must not show for this type.
        for generic in ("Host", "Login", "Password", "Schema"):
            expect(dialog.get_by_label(generic, exact=True)).to_have_count(0)
        shots(page, "connection-form-empty")
    dialog.get_by_label(relabel["host"], exact=True).fill("http://127.0.0.1")
    if port is not None:
        dialog.get_by_label("Port", exact=True).fill(str(port))
    dialog.get_by_label(relabel["login"], exact=True).fill(DEFAULT_ACCESS_KEY)
    dialog.get_by_label(relabel["password"], exact=True).fill(password)
    if inspect:
        shots(page, "connection-form-filled")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)


def connection_row(page: Page, conn_id: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))


def test_provider_listed_with_description_and_docs_link(page: Page, shots: Shots) -> None:
    page.goto("/")
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Providers").click()
    expect(page).to_have_url(re.compile(r"/providers$"))
    row = page.get_by_role("row").filter(has_text="airflow-provider-kling")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Kling AI generation in Airflow pipelines")
    # The package-name link comes from the distribution's `Documentation` project URL.
    name_link = row.get_by_role("link", name="airflow-provider-kling", exact=True)
    expect(name_link).to_have_attribute("href", DOCS_URL)
    shots(page, "providers")


def test_connection_form_shows_kling_fields_and_saves(page: Page, stack: Stack, shots: Shots) -> None:
    add_kling_connection(
        page, shots, "kling_ui", port=stack.emulator_port, password=DEFAULT_SECRET_KEY, inspect=True
    )
    row = connection_row(page, "kling_ui")
    expect(row).to_contain_text("kling")
    expect(row).to_contain_text("http://127.0.0.1")
    expect(row).to_contain_text(str(stack.emulator_port))
    shots(page, "connection-saved")


def test_connection_test_button_reports_kling_results(
    page: Page, stack: Stack, shots: Shots, summary: list[str]
) -> None:
    add_kling_connection(page, shots, "kling_ok", port=stack.emulator_port, password=DEFAULT_SECRET_KEY)
    add_kling_connection(page, shots, "kling_wrong_key", port=stack.emulator_port, password="not-the-secret")
    page.goto("/connections")

    connection_row(page, "kling_ok").get_by_role("button", name="Test Connection").click()
    ok = toast(page, "Test Connection Successful", f"Connected to Kling at {stack.emulator_url}")
    expect(ok).to_be_visible()
    expect(ok).to_contain_text("jwt auth")
    shots(page, "test-connection-success")

    page.reload()  # one toast per screenshot
    connection_row(page, "kling_wrong_key").get_by_role("button", name="Test Connection").click()
    bad = toast(page, "Test Connection Failed", "Kling API error 1002")
    expect(bad).to_be_visible()
    expect(bad).to_contain_text("(request_id: ")
    shots(page, "test-connection-wrong-key")

    # Airflow 3.3.2 sends port 0 for a connection without a port (docs/connection.md); record what happens.
    add_kling_connection(page, shots, "kling_no_port", port=None, password=DEFAULT_SECRET_KEY)
    page.goto("/connections")
    connection_row(page, "kling_no_port").get_by_role("button", name="Test Connection").click()
    outcome = page.locator("[data-scope=toast][data-part=root]").filter(
        has_text=re.compile("Connected to Kling at|Bad Request")
    )
    expect(outcome).to_be_visible()
    shots(page, "test-connection-without-port")
    summary.append(f"NOTE Test on a connection without a port: {outcome.inner_text().splitlines()}")


def status_line(kind: str) -> re.Pattern[str]:
    return re.compile(rf"Kling {re.escape(kind)} task \d+: submitted -> processing")


def open_trigger_form(page: Page, dag_id: str) -> Locator:
    page.goto(f"/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Trigger Dag - {dag_id}")).to_be_visible()
    return dialog


def wait_for_run(stack: Stack, dag_id: str, run_id: str) -> str:
    path = f"dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    state: dict[str, str] = {}

    def finished() -> bool:
        state["value"] = stack.api(path)["state"]
        return state["value"] in ("success", "failed")

    wait_until(f"run {run_id} of {dag_id}", finished, RUN_TIMEOUT, interval=1.0, alive=stack.check_alive)
    return state["value"]


@pytest.mark.parametrize("case", CASES, ids=[c.dag_id for c in CASES])
def test_trigger_form_runs_dag_through_triggerer(
    page: Page, stack: Stack, shots: Shots, summary: list[str], case: DagCase
) -> None:
    require_dag_file(case)
    dialog = open_trigger_form(page, case.dag_id)
    for name, value in case.fields.items():
        dialog.locator(f"input[name={name}]").fill(value)
    destination = stack.home / f"published_{case.dag_id}"
    if dialog.locator("input[name=element_destination]").count():
        dialog.locator("input[name=element_destination]").fill(f"file://{destination}")
    dialog.locator("label[id='switch:element_asmr_mode']").click()
    expect(dialog.locator("input[name=element_asmr_mode]")).to_be_checked()
    shots(page, f"{case.dag_id}-trigger-form", full_page=True)
    started = time.monotonic()
    dialog.get_by_test_id("trigger-dag-submit").click()
    expect(page).to_have_url(re.compile(rf"/dags/{case.dag_id}/runs/"))
    run_id = urllib.parse.unquote(page.url.split("/runs/", 1)[1].split("/", 1)[0])
    run_url = f"/dags/{case.dag_id}/runs/{urllib.parse.quote(run_id, safe='')}"

    # While Kling works, the first task's log (it refreshes itself) shows the status lines.
    first_task, first_kind = next(iter(case.kling_tasks.items()))
    page.goto(f"{run_url}/tasks/{first_task}")
    expect(page.get_by_text(status_line(first_kind))).to_be_visible(timeout=RUN_TIMEOUT * 1000)
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge").inner_text()
    shots(page, f"{case.dag_id}-{first_task}-log-while-waiting")
    summary.append(f"{case.dag_id}: status line shown while {first_task} was {badge!r}")

    state = wait_for_run(stack, case.dag_id, run_id)
    summary.append(f"{case.dag_id}: run {state} {time.monotonic() - started:.0f}s after Trigger")
    page.goto(run_url)
    expect(page.get_by_role("heading").filter(has_text=run_id)).to_be_visible()
    shots(page, f"{case.dag_id}-run")
    assert state == "success", f"run ended {state}: see {run_url} and {stack.home}/logs"
    # The run's configuration (Details tab) carries the Params typed into the form.
    page.get_by_role("link", name="Details").click()
    for value in case.fields.values():
        expect(page.get_by_text(value).first).to_be_visible()

    for task_id, kind in case.kling_tasks.items():
        page.goto(f"{run_url}/tasks/{task_id}")
        expect(page.get_by_test_id("header-card").get_by_test_id("state-badge")).to_have_text("Success")
        # Status lines come from the trigger, i.e. the wait ran on the triggerer.
        expect(page.get_by_text(status_line(kind))).to_be_visible()
        expect(page.get_by_text(re.compile(r"Trigger fired event"))).to_be_visible()
        shots(page, f"{case.dag_id}-{task_id}-log")

    page.goto(f"{run_url}/tasks/{case.audio_task}/xcom")
    page.get_by_test_id("expand-all-button").click()
    value = page.get_by_role("row").filter(has=page.get_by_role("cell", name="return_value", exact=True))
    editor = value.locator(".monaco-editor").first
    expect(editor).to_contain_text('"audios"')
    # The value sits in a fixed-height code view that renders only its visible lines: move the cursor
    # down until the audio URLs are in view (the mouse wheel scrolls the page instead of the view
    # when the XCom list is long, as it is with the extra links' rows).
    editor.click()
    page.keyboard.press("Control+Home")
    for _ in range(120):
        if '"url_wav"' in editor.inner_text():
            break
        page.keyboard.press("ArrowDown")
    expect(editor).to_contain_text('"url_wav"')
    shots(page, f"{case.dag_id}-xcom-audio-urls")
    text = editor.inner_text().replace("\xa0", " ")
    # Long URLs wrap inside the view: drop the whitespace the wrapping put into them.
    urls = {k: re.sub(r"\s+", "", v) for k, v in re.findall(r'"(url_mp3|url_wav)":\s*"([^"]+)"', text)}
    base = re.escape(stack.emulator_url)
    assert re.fullmatch(rf"{base}/results/\d+/\d+\.mp3", urls.get("url_mp3", "")), urls
    assert re.fullmatch(rf"{base}/results/\d+/\d+\.wav", urls.get("url_wav", "")), urls
    summary.append(f"{case.dag_id}: XCom audio URLs {sorted(urls.values())}")
    if case.publishes:
        published = sorted(p.name for p in destination.rglob("*") if p.is_file())
        assert published, f"nothing published under {destination}"
        summary.append(f"{case.dag_id}: published {published}")


def test_trigger_form_refuses_prompt_over_200_characters(page: Page, stack: Stack, shots: Shots) -> None:
    case = CASES[0]
    require_dag_file(case)
    runs_before = stack.api(f"dags/{case.dag_id}/dagRuns")["total_entries"]
    dialog = open_trigger_form(page, case.dag_id)
    sound = dialog.locator("input[name=element_sound_effect_prompt]")
    sound.fill("")
    sound.press_sequentially("s" * 205, delay=0)
    # The Param's maxLength becomes the input's limit: a user cannot type a 201st character.
    assert len(sound.input_value()) == 200
    shots(page, "params-input-capped-at-200")

    # Pasting a longer prompt into the run configuration is refused by the schema, no run created.
    dialog.get_by_role("button", name="Advanced Options").click()
    dialog.locator(".monaco-editor").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text('{"sound_effect_prompt": "' + "s" * 201 + '"}')
    dialog.get_by_test_id("trigger-dag-submit").click()
    error = dialog.get_by_text(re.compile(r"Invalid input for param sound_effect_prompt: .* is too long"))
    expect(error).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"Failed validating 'maxLength'"))).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/dags/{case.dag_id}$"))
    shots(page, "params-too-long-refused")
    assert stack.api(f"dags/{case.dag_id}/dagRuns")["total_entries"] == runs_before
