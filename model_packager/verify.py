"""``maaskit verify``: is a bundle intact, valid, and does its model still answer its samples?

Three steps, each reported: the manifest parses against the schema, every file
matches its sha256, and the stored sample inputs run through onnxruntime give
the stored ORIGINAL outputs, as the bundle contract's one judge (:func:`bundle.judge.judge`) decides:
raw texts through the bundle's tokenizer, image files through its preprocessing, the rule of its task,
within the tolerances of the last transformation the bundle was packaged with.
A bundle whose checksums fail is not run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bundle import Bundle, BundleError, BundleFormatError, BundleNotFoundError, open_bundle, verify_files
from bundle.judge import Runner, judge, local_runner
from model_packager.converters.base import PackagingError

__all__ = ["Step", "VerifyResult", "verify_bundle"]


@dataclass(frozen=True)
class Step:
    """One verification step and its outcome."""

    name: str
    passed: bool
    detail: str


@dataclass
class VerifyResult:
    """Outcome of verifying one bundle."""

    path: str
    key: str | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every step ran and passed."""
        return len(self.steps) == 3 and all(step.passed for step in self.steps)


def _verify_root(source: Path, root_hint: Path | None, result: VerifyResult) -> None:
    try:
        bundle = open_bundle(source, verify=False, extract_to=root_hint)
    except BundleNotFoundError:
        raise
    except BundleFormatError as exc:
        result.steps.append(Step("schema", False, str(exc)))
        return
    result.key = bundle.key
    manifest = bundle.manifest
    result.steps.append(Step("schema", True, f"manifest format {manifest.format_version}, {len(manifest.files)} files"))
    try:
        verify_files(bundle.root, manifest)
    except BundleError as exc:
        result.steps.append(Step("checksums", False, str(exc)))
        return
    result.steps.append(Step("checksums", True, "sha256 and size match for " + ", ".join(sorted(manifest.files))))
    try:
        verdict = judge(manifest, bundle.root, bundle.samples(), _runner(bundle))
    except (BundleError, PackagingError, ValueError) as exc:
        result.steps.append(Step("samples", False, str(exc)))
        return
    except Exception as exc:  # onnxruntime's own (pybind) errors: the model cannot run
        result.steps.append(Step("samples", False, f"onnxruntime cannot run the model: {type(exc).__name__}: {exc}"))
        return
    report, failures = verdict.report, verdict.problems
    engine = "onnxruntime-genai" if manifest.generation is not None else "onnxruntime"
    detail = f"{report.sample_count} samples re-run through {engine}"
    result.steps.append(Step("samples", not failures, "; ".join(failures) if failures else detail + ", outputs match"))


def _runner(bundle: Bundle) -> Runner:
    """How the bundle's model runs here: onnxruntime-genai for text generation, else an onnxruntime session."""
    if bundle.manifest.generation is not None:
        from model_packager.generative.verify import generative_runner

        return generative_runner(bundle)
    return local_runner(bundle.manifest, bundle.root)


def verify_bundle(path: Path) -> VerifyResult:
    """Verify a bundle directory or archive. Raises BundleNotFoundError when ``path`` is not a bundle."""
    result = VerifyResult(path=str(path))
    if path.is_dir():
        _verify_root(path, None, result)
    else:
        with tempfile.TemporaryDirectory(prefix="maaskit-verify-") as tmp:
            try:
                _verify_root(path, Path(tmp), result)
            except BundleNotFoundError:
                raise
            except BundleError as exc:  # unreadable or unsafe archive
                result.steps.append(Step("archive", False, str(exc)))
    return result
