"""Fixtures for the browser check: one Airflow stack and one headless Chromium per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.ui.stack import REPO, Stack, running_stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The browser tests need the `ui` extra; without it the default suite must still collect cleanly.
collect_ignore_glob = [] if importlib.util.find_spec("playwright") else ["test_*.py"]

ARTIFACTS = Path(os.environ.get("KLING_UI_ARTIFACTS", REPO / "artifacts" / "ui"))
# Without the background-networking flags Chromium keeps dialing Google on this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack(keep_home=bool(os.environ.get("KLING_UI_KEEP_HOME"))) as s:
        yield s


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: run `apt-get install -y chromium` (tests/ui/run_ui_check.sh does)"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


class Shots:
    """Numbered screenshots in the artefacts folder, in the order the steps ran."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        self.count += 1
        page.wait_for_timeout(400)  # let toasts and dialogs finish their entry animation
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        return path


@pytest.fixture(scope="session")
def shots() -> Shots:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return Shots(ARTIFACTS)


@pytest.fixture(scope="session")
def summary(shots: Shots) -> Iterator[list[str]]:
    """Observations of the run (timings, URLs seen, known-bug outcomes), written next to the shots."""
    lines: list[str] = []
    yield lines
    lines += [f"screenshot {p.relative_to(REPO) if p.is_relative_to(REPO) else p}" for p in shots.taken]
    (shots.folder / "summary.txt").write_text("\n".join(lines) + "\n")
