"""Stage the pre-traffic hook's asset: the hook, the bundle contract it judges with, and the bundle's samples.

The hook decides with the same function as the packager's gate, ``verify`` and the runtime's
warm-up (:func:`bundle.parity.reproduces`), so it ships the ``bundle`` package itself (numpy,
pydantic and orjson come from the endpoint's dependency layer) together with the bundle's
``manifest.json`` (tolerances, dtypes, labels) and ``samples.npz`` (inputs and expected outputs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import bundle
from bundle.reader import MANIFEST_FILE, SAMPLES_FILE

__all__ = ["BUNDLE_PACKAGE", "HOOK_HANDLER", "HOOK_SOURCE", "stage_hook_asset"]

HOOK_SOURCE = Path(__file__).resolve().parent / "hook" / "pre_traffic.py"
BUNDLE_PACKAGE = Path(bundle.__file__).resolve().parent
#: The hook's Lambda handler inside the staged asset.
HOOK_HANDLER = "pre_traffic.handler"


def stage_hook_asset(out: Path, bundle_dir: Path) -> None:
    """Write the hook's asset into ``out``: ``pre_traffic.py``, ``bundle/``, ``manifest.json``, ``samples.npz``.

    The bundle is opened (and its checksums verified) first: the hook never checks against an altered copy.
    """
    source = bundle.open_bundle(bundle_dir)
    shutil.copyfile(HOOK_SOURCE, out / HOOK_SOURCE.name)
    shutil.copytree(BUNDLE_PACKAGE, out / "bundle", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in (MANIFEST_FILE, SAMPLES_FILE):
        shutil.copyfile(source.root / name, out / name)
