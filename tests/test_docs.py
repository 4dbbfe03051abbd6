"""What the README and ``docs/`` quote exists: every ``maaskit`` command and flag, every route, every file.

A reader copies what the docs show. A renamed flag, a route that moved or a file that was deleted
makes the docs lie without anyone noticing; this test reads every code span and code block of the
README and ``docs/*.md`` and checks each quoted ``maaskit`` command line against the real CLI (the
typer app's click tree), each quoted HTTP route against the routes the server registers (and the
deployed API's routes), and each quoted repository path and relative link against the tree.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [
        REPO / "README.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / name / "README.md" for name in ("bench", "handlers", "tests/events")),
    ]
)
_CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_ROUTE = re.compile(r"^(?:(?:GET|POST|PUT|DELETE|PATCH|HEAD)\s+)?(/[A-Za-z0-9_{}/:.+\-\[\]]*)$")
#: Top-level folders of the repository: a quoted path starting with one of them is a file reference.
_TREE_ROOTS = (
    "bundle/",
    "handlers/",
    "infra/",
    "maaskit/",
    "model_packager/",
    "docs/",
    "bench/",
    "scripts/",
    "examples/",
    "tests/",
    ".ci/",
)
#: Folders of generated output (git-ignored): quoted as where a command writes, not as files that exist.
_GENERATED = ("bench/out/",)
#: Routes only the deployed API has (infra/constructs/api.py): SageMaker models' container route.
_DEPLOYED_ONLY = ("/models/{m}/invocations",)
#: Route segments that are placeholders in the docs, matched by any path parameter.
_PLACEHOLDER = re.compile(r"^(\{[^}]+\}|<[^>]+>|\.\.\.)$")


def _spans(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    for match in _CODE.finditer(text):
        yield match.group(1) if match.group(1) is not None else match.group(2)


def _command_lines(snippet: str) -> Iterator[str]:
    """The arguments of every command line in ``snippet`` that runs ``maaskit`` (prose and output skipped)."""
    joined = re.sub(r"\\\n\s*", " ", snippet)
    for raw_line in joined.splitlines():
        line = raw_line.split(" #", 1)[0].strip().removeprefix("$").strip()
        for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
            words = [word for word in part.split() if not re.match(r"^[A-Z_][A-Z0-9_]*=", word)]
            if words and words[0].rsplit("/", 1)[-1] == "maaskit":
                yield " ".join(words[1:])


@cache
def _cli() -> Any:
    """The click tree of the ``maaskit`` app (typer may ship its own click: duck-typed)."""
    from maaskit.cli import app

    command = typer.main.get_command(app)
    assert hasattr(command, "commands")
    return command


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def _options(command: Any) -> set[str]:
    names = {"--help"}
    for parameter in command.params:
        names.update(getattr(parameter, "opts", []))
        names.update(getattr(parameter, "secondary_opts", []))
    return names


def _check_command(line: str) -> str | None:
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    command = _cli()
    path = ["maaskit"]
    for word in words:
        if _is_group(command) and not word.startswith("-"):
            sub = command.commands.get(word)
            if sub is None:
                if word.isidentifier() and word.islower():
                    return f"`{' '.join(path)} {word}` is not a command (have: {', '.join(sorted(command.commands))})"
                return None  # an argument placeholder, a pipe target, prose
            command = sub
            path.append(word)
            continue
        if word.startswith("--"):
            flag = word.split("=", 1)[0].rstrip(".,")
            flag = re.sub(r"[\[\]|].*$", "", flag)
            if flag and flag != "--" and flag not in _options(command):
                return f"`{' '.join(path)}` has no option {flag}"
    return None


@cache
def _routes() -> list[list[str]]:
    """Every route the served app registers, and every resource of the deployed API, split in segments."""
    from handlers.app import create_app
    from handlers.engine import ModelRepository
    from handlers.settings import Settings

    app = create_app(ModelRepository(), Settings())
    paths = {getattr(route, "path", "") for route in app.routes}
    return [_segments(path) for path in paths if path]


def _segments(path: str) -> list[str]:
    return [part for part in path.split("?", maxsplit=1)[0].strip("/").split("/") if part]


def _matches(quoted: list[str], route: list[str]) -> bool:
    if len(quoted) != len(route) and not (route and route[-1].startswith("{") and route[-1].endswith(":path}")):
        return False
    for have, want in zip(quoted, route, strict=False):
        if want.startswith("{") or _PLACEHOLDER.match(have):
            continue
        # TF Serving's ``:predict`` verbs ride on a path parameter; compare the literal part only.
        if have.split(":")[0] != want.split(":")[0] and not (want.startswith("{") or "{" in have):
            return False
    return True


def _check_route(quoted: str) -> str | None:
    segments = _segments(quoted)
    if not segments:
        return None
    roots = {route[0] for route in _routes() if route}
    if segments[0] not in roots:
        return None  # a filesystem path (/opt/ml/model, /tmp) or another service's path
    if any(_matches(segments, route) for route in _routes()):
        return None
    if any(_matches(segments, _segments(route)) for route in _DEPLOYED_ONLY):
        return None
    if any(_matches(segments, route[: len(segments)]) for route in _routes() if len(route) > len(segments)):
        return None  # a base URL (``/models/{m}/v1``) that served routes extend
    return f"route {quoted} is not served"


def _ignored(candidate: str) -> bool:
    """True for generated output the docs describe (``bench/out/``): git ignores it, so it exists only once made."""
    return candidate.startswith(_GENERATED)


def _check_file(quoted: str) -> str | None:
    candidate = quoted.strip().rstrip(".,:")
    if " " in candidate or "*" in candidate or "<" in candidate or "{" in candidate:
        return None
    if not candidate.startswith(_TREE_ROOTS):
        return None
    candidate = candidate.split("::")[0].split("#")[0]
    if re.search(r"\.[A-Za-z]{1,4}$", candidate) is None and not candidate.endswith("/"):
        return None  # a module path without extension or prose
    if _ignored(candidate):
        return None
    return None if (REPO / candidate).exists() else f"file {candidate} does not exist"


def _problems(path: Path) -> list[str]:
    found: list[str] = []
    for snippet in _spans(path):
        for line in _command_lines(snippet):
            problem = _check_command(line)
            if problem:
                found.append(problem)
        if "\n" not in snippet.strip():
            single = snippet.strip()
            route = _ROUTE.match(single)
            problem = _check_route(route.group(1)) if route else _check_file(single)
            if problem:
                found.append(problem)
    for target in _LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (path.parent / target).exists():
            found.append(f"link {target} does not exist")
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_what_the_docs_quote_exists(document: Path) -> None:
    """Commands, flags, routes, files and links quoted in the document are real."""
    problems = _problems(document)
    assert not problems, f"{document.relative_to(REPO)}: " + "; ".join(sorted(set(problems)))


def test_the_checker_catches_what_it_claims() -> None:
    """A made-up flag, command, route and file are each reported (the test above can fail)."""
    assert _check_command("package model.joblib --no-such-flag") is not None
    assert _check_command("frobnicate BUNDLE") is not None
    assert _check_command("package model.joblib --name iris --version 1.0.0") is None
    assert _check_route("/v2/models/{name}/infer") is None
    assert _check_route("/v2/modelz/{name}/infer") is not None
    assert _check_file("handlers/no_such_module.py") is not None
    assert _check_file("handlers/app.py") is None
