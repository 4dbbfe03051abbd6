"""``maaskit package``, ``verify`` and ``inspect`` (registered into ``maaskit`` by ``maaskit.cli``).

Exit codes: 0 success; 1 parity failed (package) or the bundle failed a check
(verify); 2 bad input (unknown model kind, corrupted file, bad sample, invalid
name or version, existing bundle, unwritable output directory); 3 an unexpected
failure inside a converter. Every error is a few lines (cause, estimator or layer, what to do);
what converters print and the full traceback go to a log file named in the message, or to the
terminal with ``--debug`` (or ``MAASKIT_DEBUG=1``). Heavy libraries are imported inside the
commands so ``maaskit --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from bundle import names
from bundle.tolerances import DEFAULT_TEXT_TOLERANCES, DEFAULT_TOLERANCES, INT8_TEXT_TOLERANCES, INT8_TOLERANCES

__all__ = ["register"]

EXIT_PARITY = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
_CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "CODEBUILD_BUILD_ID", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")


def _fail(
    message: str,
    code: int,
    as_json: bool,
    *,
    error_type: str | None = None,
    log: Path | None = None,
    detail: str = "",
    debug: bool = False,
) -> NoReturn:
    """Print one short error (at most a few lines): the cause, what to do, and where the details are."""
    from model_packager.failure_log import short_message

    text = short_message(message)
    if debug and detail:
        typer.echo(detail.rstrip(), err=True)
    hint = f"details: {log} (or rerun with --debug)" if log is not None and not debug else None
    if as_json:
        payload: dict[str, Any] = {"ok": False, "exit_code": code, "error": text, "error_type": error_type}
        payload["log"] = str(log) if log is not None else None
        if debug:
            payload["detail"] = detail
        typer.echo(json.dumps(payload))
    typer.echo(f"error: {text}" + (f"\n  {hint}" if hint else ""), err=True)
    raise typer.Exit(code)


def _write_detail(log: Path, detail: str) -> Path | None:
    """Append ``detail`` to the run's log; the log's path when it holds anything worth reading."""
    if detail:
        with log.open("a", encoding="utf-8") as stream:
            stream.write("\n" + detail)
    return log if log.is_file() and log.stat().st_size > 0 else None


def _interactive(quiet: bool, as_json: bool) -> bool:
    return not (quiet or as_json) and sys.stderr.isatty() and not any(os.environ.get(v) for v in _CI_VARIABLES)


def _parse_metadata(pairs: list[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--metadata {pair!r} must look like key=value")
        metadata[key.strip()] = value
    return metadata


def _summary(result: Any) -> list[str]:
    from model_packager.report import human_size, parity_lines

    manifest = result.manifest
    lines = [
        f"packaged {manifest.name} {manifest.version}: {manifest.framework.name} {manifest.framework.version} "
        f"-> ONNX via {manifest.converter.name} {manifest.converter.version} in {result.timings['total_s']:.2f} s",
        f"  bundle  {result.directory}",
        f"  archive {result.archive} ({human_size(result.archive_size)})",
        f"  parity  {'passed' if manifest.parity.passed else 'FAILED'} on {manifest.parity.sample_count} samples",
    ]
    if manifest.generation is not None:
        from model_packager.generative.report import generation_lines

        lines[3:3] = generation_lines(manifest.generation)
    if manifest.text is not None:
        lines.insert(3, f"  task    {manifest.task}, max_length {manifest.text.max_length} tokens, tokenizer.json")
    if manifest.speech is not None:
        lines.insert(3, f"  task    {manifest.task} ({manifest.speech.architecture}, {manifest.speech.kind})")
    lines += [f"    {line}" for line in parity_lines(manifest.parity)]
    if manifest.optimization:
        opt = manifest.optimization
        lines.append(
            f"  optimized graph={opt.graph_level} quantization={opt.quantization} precision={opt.precision}: "
            f"{human_size(opt.size_before)} -> {human_size(opt.size_after)}; parity after it:"
        )
        lines += [f"    {line}" for line in parity_lines(opt.parity)]
    if manifest.resources:
        used = manifest.resources
        lines.append(
            f"  serving {human_size(used.resident_bytes)} resident, ready in {used.ready_seconds:.2f} s "
            "(measured in a fresh onnxruntime process; sizes the Lambda memory)"
        )
    return lines


def package_command(  # noqa: PLR0917  (typer maps each parameter to an option)
    model: Annotated[
        Path,
        typer.Argument(
            help="Saved model: .pkl/.joblib, .json/.ubj (XGBoost), .txt (LightGBM), .cbm (CatBoost), "
            ".onnx, .pt/.pt2, .keras, a SavedModel directory, a transformers / sentence-transformers folder, "
            "or a transformers image-classification folder (with preprocessor_config.json)."
        ),
    ],
    name: Annotated[str, typer.Option(help="Bundle name: lowercase letters, digits, inner hyphens.")],
    version: Annotated[str, typer.Option(help="Semantic version, e.g. 1.0.0.")],
    sample: Annotated[
        Path | None,
        typer.Option(
            help="Sample input: .npy, .npz (one array per input) or .csv; texts for text models: .txt or .jsonl; "
            "image models: an image file or a folder of .jpg/.png/.webp images."
        ),
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(help="Force a converter (sklearn, xgboost, lightgbm, catboost, onnx, torch, tensorflow)."),
    ] = None,
    optimize: Annotated[
        str, typer.Option(help="Graph optimization: none, basic, extended, or transformer (text models).")
    ] = "none",
    quantize: Annotated[
        str | None, typer.Option(help="Quantization: int8 (dynamic); text-generation: int8 or int4.")
    ] = None,
    precision: Annotated[
        str,
        typer.Option(help="fp32, or fp16 for GPU targets (float32 inputs/outputs kept; parity re-checked on CPU)."),
    ] = "fp32",
    measure: Annotated[
        bool | None,
        typer.Option(
            "--measure/--no-measure",
            help="Record resident memory and time to ready (fresh onnxruntime process) in the manifest; "
            "default: for models of 64 MB or more (Lambda is sized from it).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("bundles"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle of this version.")] = False,
    atol: Annotated[float, typer.Option(help="Absolute tolerance of the parity gate.")] = DEFAULT_TOLERANCES.atol,
    rtol: Annotated[
        float, typer.Option(help="Relative tolerance (for elements beyond --atol).")
    ] = DEFAULT_TOLERANCES.rtol,
    min_label_agreement: Annotated[float, typer.Option(help="Share of classifier labels that must agree.")] = (
        DEFAULT_TOLERANCES.min_label_agreement
    ),
    int8_atol: Annotated[
        float, typer.Option(help="Absolute tolerance after int8 quantization.")
    ] = INT8_TOLERANCES.atol,
    int8_rtol: Annotated[
        float, typer.Option(help="Relative tolerance after int8 quantization.")
    ] = INT8_TOLERANCES.rtol,
    int8_min_label_agreement: Annotated[float, typer.Option(help="Label agreement after int8.")] = (
        INT8_TOLERANCES.min_label_agreement
    ),
    metadata: Annotated[list[str] | None, typer.Option(help="key=value recorded in the manifest (repeatable).")] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Class labels of a PyTorch/Keras softmax or sigmoid output, comma-separated (e.g. cat,dog)."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="Text models: feature-extraction, text-classification or token-classification (default: detected); "
            "image models: image-classification; causal LMs: text-generation (detected from *ForCausalLM); "
            "speech: automatic-speech-recognition (detected from WhisperForConditionalGeneration, *ForCTC)."
        ),
    ] = None,
    min_cosine: Annotated[float, typer.Option(help="Embeddings: lowest cosine to the original per text.")] = (
        DEFAULT_TEXT_TOLERANCES.min_cosine
    ),
    int8_min_cosine: Annotated[float, typer.Option(help="Embeddings: lowest cosine after int8.")] = (
        INT8_TEXT_TOLERANCES.min_cosine
    ),
    min_ranking_agreement: Annotated[
        float, typer.Option(help="Embeddings: share of retrieval top-3 neighbours that must stay the same.")
    ] = DEFAULT_TEXT_TOLERANCES.min_ranking_agreement,
    truncatable_embeddings: Annotated[
        bool,
        typer.Option(
            "--truncatable-embeddings",
            help="Embeddings trained for truncation (Matryoshka): the OpenAI API may serve fewer dimensions.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show converter output and tracebacks instead of a log file.")
    ] = False,
) -> None:
    """Convert a trained model to ONNX, check parity, and write a versioned bundle."""
    from bundle import BundleError
    from model_packager.api import package
    from model_packager.converters.base import PackagingError
    from model_packager.parity import ParityError, Tolerances
    from model_packager.text_optimize import INT8_TEXT_TOLERANCES
    from model_packager.text_package import TextTolerances

    try:
        tolerances = Tolerances(atol, rtol, min_label_agreement)
        int8 = Tolerances(int8_atol, int8_rtol, int8_min_label_agreement)
        text_gate = TextTolerances(min_cosine, min_ranking_agreement)
        int8_text_gate = dataclasses.replace(
            INT8_TEXT_TOLERANCES, min_cosine=int8_min_cosine, min_ranking_agreement=min_ranking_agreement
        )
        meta = _parse_metadata(metadata or [])
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT, as_json)
    import traceback

    from rich.console import Console

    from model_packager.failure_log import captured, log_path

    debug = debug or bool(os.environ.get(names.DEBUG))
    interactive = _interactive(quiet, as_json)
    log = log_path(name, version)
    try:
        with nullcontext(sys.stderr) if debug else captured(log) as terminal:
            console = Console(file=terminal)
            status: AbstractContextManager[Any] = console.status("packaging") if interactive else nullcontext()
            with status as spinner:
                result = package(
                    model,
                    name=name,
                    version=version,
                    sample=sample,
                    framework=framework,
                    out=out,
                    optimize=optimize,  # type: ignore[arg-type]  # validated by package()
                    quantize=quantize,  # type: ignore[arg-type]
                    precision=precision,  # type: ignore[arg-type]
                    measure=measure,
                    tolerances=tolerances,
                    int8_tolerances=int8,
                    metadata=meta,
                    force=force,
                    on_step=spinner.update if spinner is not None else None,
                    labels=[label.strip() for label in labels.split(",")] if labels else None,
                    task=task,
                    text_tolerances=text_gate,
                    int8_text_tolerances=int8_text_gate,
                    truncatable_embeddings=truncatable_embeddings,
                )
    except ParityError as exc:
        if not as_json and not quiet:
            from model_packager.report import parity_lines

            for line in parity_lines(exc.report)[:6]:
                typer.echo(f"  {line}", err=True)
        written = None if debug else _write_detail(log, "")
        _fail(f"{exc} (no bundle written)", EXIT_PARITY, as_json, error_type="ParityError", log=written, debug=debug)
    except (PackagingError, BundleError) as exc:
        detail = exc.detail_text() if isinstance(exc, PackagingError) else ""
        written = None if debug else _write_detail(log, detail)
        kind = type(exc).__name__
        _fail(str(exc), EXIT_BAD_INPUT, as_json, error_type=kind, log=written, detail=detail, debug=debug)
    except Exception as exc:
        detail = "".join(traceback.format_exception(exc))
        written = None if debug else _write_detail(log, detail)
        message = f"unexpected {type(exc).__name__} while packaging: {str(exc).strip()[:300]} (a bug: please report it)"
        _fail(message, EXIT_INTERNAL, as_json, error_type=type(exc).__name__, log=written, detail=detail, debug=debug)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "directory": str(result.directory),
                    "archive": str(result.archive),
                    "archive_size": result.archive_size,
                    "notes": result.notes,
                    "timings": result.timings,
                    "manifest": result.manifest.model_dump(mode="json"),
                }
            )
        )
        return
    if not quiet:
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo("\n".join(_summary(result)))


def verify_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a bundle: manifest schema, file checksums, samples re-run through onnxruntime."""
    from bundle import BundleNotFoundError
    from model_packager.verify import verify_bundle

    try:
        result = verify_bundle(bundle)
    except BundleNotFoundError as exc:
        _fail(str(exc), EXIT_BAD_INPUT, as_json)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": result.passed,
                    "bundle": result.key,
                    "path": result.path,
                    "steps": [vars(step) for step in result.steps],
                }
            )
        )
    else:
        for step in result.steps:
            typer.echo(f"{'ok  ' if step.passed else 'FAIL'} {step.name}: {step.detail}")
        typer.echo(f"{result.key or bundle}: {'verified' if result.passed else 'verification FAILED'}")
    if not result.passed:
        raise typer.Exit(1)


def inspect_command(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest and checksum status as JSON.")] = False,
) -> None:
    """Show a bundle's signature, labels, parity, sizes and provenance."""
    import tempfile

    from bundle import BundleError, open_bundle, verify_files

    with tempfile.TemporaryDirectory(prefix="maaskit-inspect-") as tmp:
        try:
            opened = open_bundle(bundle, verify=False, extract_to=None if bundle.is_dir() else Path(tmp))
        except BundleError as exc:
            _fail(str(exc), EXIT_BAD_INPUT, as_json)
        try:
            verify_files(opened.root, opened.manifest)
            integrity, intact = "all files match their sha256", True
        except BundleError as exc:
            integrity, intact = f"MISMATCH: {exc}", False
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "bundle": opened.key,
                        "path": str(bundle),
                        "checksums_ok": intact,
                        "archive_size": bundle.stat().st_size if bundle.is_file() else None,
                        "manifest": opened.manifest.model_dump(mode="json"),
                    }
                )
            )
            return
        from rich.console import Console

        from bundle.reference import REFERENCE_FILE, load_reference
        from model_packager.report import inspect_tables, print_tables

        reference = None
        if intact and REFERENCE_FILE in opened.manifest.files:
            reference = load_reference(opened)
        print_tables(Console(), inspect_tables(opened.manifest, bundle, integrity, reference))


def register(app: typer.Typer) -> None:
    """Add this phase's commands to the ``maaskit`` app."""
    app.command("package")(package_command)
    app.command("verify")(verify_command)
    app.command("inspect")(inspect_command)
