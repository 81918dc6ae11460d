"""End to end in a real Chromium (Debian's, driven by Playwright): ask a what-if, read the answer.

The browser is /usr/bin/chromium, installed by ``make browser`` (scripts/ensure-chromium.sh); this
test never downloads one. The screenshot of the result page is saved as a test artifact in
artifacts/web-whatif.png.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from conftest import REPO, TESTBED
from e2e.webserver import live_server
from kremlinology.api import load_scenario
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.web.service import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "artifacts"


def the_question() -> tuple[str, str, str, int]:
    """(scenario, what-if id, its title, runs): thaw's beria_detects_coup once thaw loads."""
    try:
        thaw = load_scenario("thaw")
    except KremlinologyError:
        thaw = None
    if thaw is not None:
        for entry in thaw.whatifs:
            if entry.id == "beria_detects_coup":
                return "thaw", entry.id, entry.title, 1000
    testbed = load_scenario(TESTBED)
    return str(TESTBED), "no_plot", testbed.whatifs[0].title, 2000


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser`")
def test_ask_a_whatif_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    scenario, whatif, title, runs = the_question()
    settings = Settings(scenario=scenario, store_path=tmp_path / "results.sqlite3", workers=2)
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with live_server(settings) as (base, _explorer), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.goto(f"{base}/")
            expect(page.locator("h1")).to_have_text("What if history had gone differently?")
            page.get_by_label("Pick a what-if from the catalogue").select_option(whatif)
            expect(page.get_by_label("… or type your own question")).to_have_value(whatif)
            page.get_by_label("Timelines to simulate").fill(str(runs))
            page.get_by_label("Random seed").fill("1")
            page.get_by_role("button", name="Run the what-if").click()

            page.wait_for_url(re.compile(rf"/whatif\?scenario=\w+&q={whatif}&runs={runs}&seed=1$"))
            shared = page.url
            if page.locator("#progress").count():  # still computing: the page shows progress
                expect(page.locator("#progress h2")).to_have_text("Working on it…")
                with contextlib.suppress(PlaywrightError):
                    page.wait_for_function(
                        "document.querySelector('[data-stage]').textContent.startsWith('sim')",
                        timeout=5_000,
                    )
                    page.screenshot(path=str(ARTIFACTS / "web-whatif-progress.png"))
            table = page.locator("#outcome-table")
            table.wait_for(timeout=150_000)  # the page polls its job, then shows the result
            expect(page.locator("h2.result-title")).to_have_text(title)
            assert table.locator("tbody tr").count() >= 3
            expect(page.locator(".legend")).to_contain_text("As history went (baseline)")
            expect(page.locator(".legend")).to_contain_text("With the change (what-if)")
            chronicle = page.locator(".chronicle").first
            expect(chronicle).to_be_visible()
            assert chronicle.locator(".whatif li").count() >= 1
            expect(page.locator("svg.curve")).to_be_visible()
            for label in ("Markdown report", "BBCode report (for forums)", "JSON result"):
                link = page.get_by_role("link", name=label)
                expect(link).to_be_visible()
                href = link.get_attribute("href")
                assert href is not None
                # a report is written after its answer (with the drivers found first), so the
                # first download may wait for it: as long as the server waits, not 30 s
                download = page.request.get(base + href, timeout=300_000)
                assert download.ok and download.body()
            page.screenshot(path=str(ARTIFACTS / "web-whatif.png"), full_page=True)

            again = browser.new_page(viewport={"width": 1280, "height": 900})
            again.goto(shared)  # the shared address shows the same result, from the cache
            expect(again.locator("#outcome-table")).to_be_visible()
            assert again.locator("#progress").count() == 0
            assert again.locator("#outcome-table").inner_text() == table.inner_text()
        finally:
            browser.close()
    assert problems == []
