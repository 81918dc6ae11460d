"""The explorer on a phone (390 px) and a desktop (1280 px), in a real Chromium.

On every page checked: no horizontal scroll (the document is no wider than the window), every
form field inside its card, and no table cell whose text runs out of it into its neighbours (the
outcome table's headers once overlapped at 390 px). Screenshots are kept as test artefacts in
artifacts/web-<page>-<width>.png (a folder git ignores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, TESTBED
from e2e.webserver import live_server
from kremlinology.web.service import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ARTIFACTS = REPO / "artifacts"
WIDTHS = (390, 1280)

MEASURE = """() => {
  const inner = document.documentElement.clientWidth;
  const found = {scroll: document.documentElement.scrollWidth, inner, escaped: [], spilled: []};
  const name = (el) => (el.getAttribute('name') || el.id || el.tagName.toLowerCase()) + ': '
    + (el.textContent || el.value || '').trim().slice(0, 40);
  const cards = 'form, .result, .card, .progress, .op, .error-box';
  for (const card of document.querySelectorAll(cards)) {
    const box = card.getBoundingClientRect();
    for (const field of card.querySelectorAll('input, select, button, textarea')) {
      const r = field.getBoundingClientRect();
      if (r.width && (r.left < box.left - 0.5 || r.right > box.right + 0.5)) {
        found.escaped.push(name(field));
      }
    }
  }
  for (const cell of document.querySelectorAll('th, td')) {
    const r = cell.getBoundingClientRect();
    if (r.width && cell.scrollWidth > cell.clientWidth + 1) found.spilled.push(name(cell));
    if (r.width && r.right > inner + 0.5) found.spilled.push('off screen ' + name(cell));
  }
  return found;
}"""


def measure(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(MEASURE)
    return found


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser`")
def test_pages_fit_a_phone_and_a_desktop(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    settings = Settings(scenario=str(TESTBED), store_path=tmp_path / "r.sqlite3", workers=1)
    ARTIFACTS.mkdir(exist_ok=True)
    report: dict[tuple[str, int], dict[str, Any]] = {}
    with live_server(settings) as (base, _explorer), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto(f"{base}/")
                page.get_by_label("Pick a what-if from the catalogue").select_option("no_plot")
                page.get_by_label("Timelines to simulate").fill("400")
                report["ask", width] = measure(page)
                page.screenshot(path=str(ARTIFACTS / f"web-ask-{width}.png"), full_page=True)
                page.get_by_role("button", name="Run the what-if").click()
                page.locator("#outcome-table").wait_for(timeout=120_000)
                page.locator(".chronicle").first.wait_for(timeout=60_000)
                report["whatif", width] = measure(page)
                page.screenshot(path=str(ARTIFACTS / f"web-whatif-{width}.png"), full_page=True)
                for path in ("history", "scenario"):
                    page.goto(f"{base}/{path}")
                    page.wait_for_load_state("load")
                    report[path, width] = measure(page)
                    page.screenshot(path=str(ARTIFACTS / f"web-{path}-{width}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    problems = []
    for (where, width), found in report.items():
        if found["scroll"] > found["inner"]:
            problems.append(f"{where} at {width}px is {found['scroll']}px wide")
        if found["escaped"]:
            problems.append(f"{where} at {width}px: fields out of their card {found['escaped']}")
        if found["spilled"]:
            problems.append(f"{where} at {width}px: cells spill {found['spilled'][:6]}")
    assert problems == [], "\n".join(problems)
