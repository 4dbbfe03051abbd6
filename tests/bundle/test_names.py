"""Environment variable names are spelled once (bundle/names.py) and cost nothing to import."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from bundle import names
from handlers.settings import ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bundle", "handlers", "infra", "maaskit", "model_packager")
VARIABLE = re.compile(r"MAASKIT_[A-Z0-9_]+")
#: Deployed as an asset of its own, without the bundle package: it spells its names, checked equal below.
STANDALONE = REPO_ROOT / "infra" / "authorizer"


def spelled_variables(source: str) -> list[tuple[int, str]]:
    """String literals in ``source`` that are exactly an environment variable name."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and VARIABLE.fullmatch(node.value)
    ]


def test_no_module_spells_an_environment_variable_name():
    spelled = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path == REPO_ROOT / "bundle" / "names.py" or path.is_relative_to(STANDALONE):
                continue
            relative = path.relative_to(REPO_ROOT)
            spelled += [f"{relative}:{line}: {value}" for line, value in spelled_variables(path.read_text())]
    assert spelled == [], "import these names from bundle.names instead of spelling them:\n" + "\n".join(spelled)


def test_the_standalone_authorizer_spells_the_same_names():
    from infra.authorizer import names as authorizer

    assert (authorizer.STAGE_ENV, authorizer.KEY_PREFIX_ENV, authorizer.CACHE_TTL_ENV) == (
        names.STAGE,
        names.KEY_PREFIX,
        names.KEY_CACHE_TTL_S,
    )


def test_the_check_finds_a_spelled_name():
    assert spelled_variables('os.environ.get("MAASKIT_NEW_KNOB")\n') == [(1, "MAASKIT_NEW_KNOB")]
    assert spelled_variables('"""Set ``MAASKIT_BUNDLES`` to a path."""\n') == []


def test_names_are_unique_and_cover_every_runtime_setting():
    values = [getattr(names, attribute) for attribute in names.__all__ if attribute.isupper()]
    values = [value for value in values if value.startswith("MAASKIT_")]
    assert len(values) >= 20
    assert all(VARIABLE.fullmatch(value) for value in values)
    assert len(set(values)) == len(values)
    assert set(ENV.values()) <= set(values)


def test_importing_the_names_loads_no_heavy_library():
    code = (
        "import sys, json; import bundle.names, bundle.version; "
        "print(json.dumps(sorted(m for m in ('numpy', 'pydantic', 'orjson', 'bundle.manifest') if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert json.loads(result.stdout) == []
