"""Headless Chromium for page tests: Debian's ``chromium`` driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

#: Flags for a closed network: no background connections, no sandbox (tests run as root in CI).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: A fake microphone that grants itself: the recorder can be tested without a person or a sound card.
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@contextmanager
def chromium_page(profile: Path, extra_args: list[str] | None = None) -> Iterator[Any]:
    """A Playwright page in Debian's Chromium (scripts/setup.sh installs both), with ``extra_args`` flags."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run scripts/setup.sh all (apt-get install -y chromium)")
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, args=CHROMIUM_ARGS + (extra_args or []), headless=True
        )
        try:
            yield context.new_page()
        finally:
            context.close()
