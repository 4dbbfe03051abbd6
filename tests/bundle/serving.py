"""Serve a bundle through the runtime's app in-process and judge its answers as the pre-traffic hook does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from handlers.app import create_app
from handlers.engine import ModelRepository
from handlers.settings import Settings
from infra.hook import pre_traffic
from infra.samples import stage_hook_asset


def answers_to(repository: ModelRepository, settings: Settings, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``outputs`` the app answers to each API Gateway-shaped predict event (each must be HTTP 200)."""
    app = create_app(repository, settings)

    async def ask() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook") as client:
            return [await client.post(e["path"], content=e["body"], headers=e["headers"]) for e in events]

    answers = asyncio.run(ask())
    assert all(answer.status_code == 200 for answer in answers), [answer.text[:500] for answer in answers]
    return [answer.json()["outputs"] for answer in answers]


def hook_verdict(directory: Path, repository: ModelRepository, settings: Settings, staging: Path) -> list[str]:
    """Stage the hook's asset for ``directory`` into ``staging``, send its requests to the served model, judge."""
    staging.mkdir(parents=True, exist_ok=True)
    stage_hook_asset(staging, directory)
    manifest, samples = pre_traffic.load_cases(staging)
    answers = answers_to(repository, settings, pre_traffic.request_batches(manifest, samples))
    return pre_traffic.compare(manifest, samples, answers)
