"""Stage the pre-traffic hook's asset: the hook, the bundle contract it judges with, and the bundle's samples.

The hook decides with the same function as the packager, ``verify`` and the runtime's warm-up
(:func:`bundle.judge.judge`), so it ships the ``bundle`` package itself (numpy, pydantic, orjson and
tokenizers come from the endpoint's dependency layer) together with the bundle's ``manifest.json``
(task, tolerances, dtypes, labels), ``samples.npz`` (raw inputs and expected outputs) and, for text
and text-generation bundles, the tokenizer file (a token classifier is judged on real tokens: the judge encodes the
sample texts to find them). The model itself is never staged: the hook asks the new version.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import bundle
from bundle.reader import MANIFEST_FILE, SAMPLES_FILE

__all__ = ["BUNDLE_PACKAGE", "HOOK_HANDLER", "HOOK_MODULES", "HOOK_SOURCE", "stage_hook_asset"]

HOOK_SOURCE = Path(__file__).resolve().parent / "hook" / "pre_traffic.py"
#: The hook's modules, staged side by side at the top of the asset.
HOOK_MODULES = (
    HOOK_SOURCE,
    HOOK_SOURCE.parent / "oip.py",
    HOOK_SOURCE.parent / "generative.py",
    HOOK_SOURCE.parent / "events.py",
)
BUNDLE_PACKAGE = Path(bundle.__file__).resolve().parent
#: The hook's Lambda handler inside the staged asset.
HOOK_HANDLER = "pre_traffic.handler"


def stage_hook_asset(out: Path, bundle_dir: Path) -> None:
    """Write the hook's asset into ``out``: the hook's modules, ``bundle/``, ``manifest.json``, ``samples.npz``
    (and a text bundle's tokenizer file).

    The bundle is opened (and its checksums verified) first: the hook never checks against an altered copy.
    """
    source = bundle.open_bundle(bundle_dir)
    for module in HOOK_MODULES:
        shutil.copyfile(module, out / module.name)
    shutil.copytree(BUNDLE_PACKAGE, out / "bundle", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    names = [MANIFEST_FILE, SAMPLES_FILE]
    if source.manifest.text is not None:
        names.append(source.manifest.text.tokenizer_file)
    if source.manifest.generation is not None:  # the golden tokens are decoded to align them with answers
        names.append(source.manifest.generation.tokenizer_file)
    for name in names:
        shutil.copyfile(source.root / name, out / name)
