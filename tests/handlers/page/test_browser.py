"""The model page in a real browser: list, open a model, send the prefilled sample, send bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.handlers.page.browser import chromium_page


def _shot(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000, f"screenshot {path} is (nearly) empty"
    return path


def test_index_lists_models_and_versions(page_server, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        response = page.goto(page_server.url + "/")
        assert response is not None and response.status == 200
        rows = page.locator("table.models tbody tr")
        assert rows.count() == 2
        iris = page.locator("table.models tr", has_text="iris")
        assert "1.0.0" in iris.inner_text() and "1.1.0" in iris.inner_text()
        assert iris.locator(".badge.latest").inner_text() == "1.1.0"
        _shot(page, tmp_path / "index.png")
        assert errors == [], errors  # no CSP violation, no failed script


def test_try_the_prefilled_sample_then_a_bad_input(page_server, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(page_server.url + "/")
        page.click("text=iris")
        page.wait_for_url("**/models/iris")
        assert "input\tinput\tfloat32\t[?, 4]" in page.locator("section", has_text="Signature").inner_text()
        assert "passed" in page.locator("section", has_text="Parity gate").inner_text()

        page.click("#try-send")
        expect(page.locator("#try-status")).to_have_text(re.compile("^HTTP"))  # no eval: the page's CSP forbids it
        assert page.inner_text("#try-status") == "HTTP 200"
        answer = json.loads(page.inner_text("#try-answer"))
        expected = json.loads(page.inner_text("#try-expected"))
        assert answer["version"] == "1.1.0"
        assert answer["labels"] == expected["label"], "the served answer differs from the original model's"
        _shot(page, tmp_path / "model-answer.png")

        page.fill("#try-body", '{"inputs": {"input": [[1.0, 2.0]]}}')
        page.click("#try-send")
        expect(page.locator("#try-status")).to_have_text("HTTP 400")
        error = json.loads(page.inner_text("#try-answer"))
        assert "input" in json.dumps(error) and "4" in json.dumps(error), error
        assert page.get_attribute("#try-answer", "class") == "error"
        _shot(page, tmp_path / "model-error.png")
        assert errors == [e for e in errors if "400" in e], errors  # only the 400 the bad input earned


def test_labels_with_markup_render_as_text(page_server, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        dialogs: list[str] = []

        def dismiss(dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)
        page.goto(page_server.url + "/models/markup")
        signature = page.locator("section", has_text="Signature").inner_text()
        assert "<script>alert('x')</script>" in signature and "<b>bold</b>" in signature
        assert page.locator("section b").count() == 0
        page.click("#try-send")
        expect(page.locator("#try-status")).to_have_text(re.compile("^HTTP"))
        assert "<script>" in page.inner_text("#try-answer")
        assert dialogs == []
