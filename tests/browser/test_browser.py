"""The story's proof of state, in a real browser: each reload of the URL counts one more visit.

Runs a headless Chromium that is already installed (Debian's `chromium` package, say): the
test never downloads a browser, and is skipped, saying why, where none is found.
"""

from __future__ import annotations

import pytest

from tests.helpers import CHROMIUM_ARGS, chromium_executable, shown_json

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: `python run.py test` brings it"
)

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_03_counts_one_more_visit_on_each_reload(start_stage, tmp_path):
    executable = chromium_executable()
    stack = start_stage("03")
    screenshot = tmp_path / "second-visit.png"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            response = page.goto(stack.url())
            assert response is not None and response.status == 200
            assert shown_json(page) == {
                "message": "Welcome! This is your first visit.",
                "session_id": "user_123",
                "visit_count": 1,
            }

            response = page.reload()
            assert response is not None and response.status == 200
            assert shown_json(page) == {
                "message": "Welcome back! This is your 2 visit.",
                "session_id": "user_123",
                "visit_count": 2,
            }
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()

    image = screenshot.read_bytes()
    assert image.startswith(PNG_SIGNATURE)
    assert len(image) > len(PNG_SIGNATURE)
