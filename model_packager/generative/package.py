"""``package(..., task="text-generation")``: a causal LM folder becomes a gated generative bundle.

Steps: read and check the folder (unsupported architectures refused before anything runs), export with
onnxruntime-genai's model builder (quiet; its output in the packaging log), run the generation gate
against transformers, write the bundle atomically (nothing is left behind when the gate fails).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bundle.generation import GenerationParity, GenerationSpec
from bundle.manifest import FileEntry, Manifest, ParityCheck, ParityReport, ToolInfo
from bundle.processing.chat import template_sha256
from bundle.reader import MODEL_DATA_FILE, file_sha256
from bundle.writer import write_bundle
from model_packager.converters.base import PackagingError
from model_packager.generative.export import BUILDER_PRECISIONS, builder_version, export_decoder
from model_packager.generative.gate import GateResult, run_gate, tolerances_for_precision
from model_packager.generative.prompts import load_prompts
from model_packager.generative.source import CausalLMSource, read_source
from model_packager.job import InvalidRequestError, PackageResult, work_folder
from model_packager.parity import ParityError
from model_packager.signature import file_signature

__all__ = ["GOLDEN_TOKENS", "package_generative", "precision_of"]

#: Greedy tokens each sample prompt's golden continuation holds (fp32 must reproduce them exactly).
GOLDEN_TOKENS = 32
DEFAULT_MAX_NEW_TOKENS = 1024
#: CUDA bundles are gated, and their golden made, on the CPU execution provider (the same graph): CUDA's
#: kernels may flip a near-tie, so a replay on the GPU must reproduce half of the goldens exactly, not all.
CUDA_REPLAY_MIN_EXACT = 0.5
_PROCESSING_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json")


def precision_of(quantize: str | None, precision: str) -> str:
    """The build (a :data:`BUILDER_PRECISIONS` key) for the CLI's ``--quantize`` / ``--precision``.

    CPU: fp32 (default), ``--quantize int8``, ``--quantize int4``. CUDA: ``--precision fp16``, and
    ``--quantize int4 --precision fp16`` (int4 weights, fp16 activations). InvalidRequestError otherwise.
    """
    quantized = quantize not in (None, "none")
    if precision not in {"fp32", "fp16"}:
        raise InvalidRequestError(f"text-generation precision must be fp32 (CPU) or fp16 (CUDA), not {precision!r}")
    if quantized and quantize not in {"int8", "int4"}:
        raise InvalidRequestError(f"text-generation precision must be fp32, int8 or int4, not {quantize!r}")
    if precision == "fp16":
        if quantize == "int8":
            raise InvalidRequestError(
                "int8 text-generation bundles are for CPU; for CUDA give --precision fp16, or --quantize int4 "
                "--precision fp16 (int4 weights, fp16 activations)"
            )
        return "int4-cuda" if quantize == "int4" else "fp16"
    return str(quantize) if quantized else "fp32"


def _summary_report(parity: GenerationParity) -> ParityReport:
    """The gate in the manifest's common parity shape (the full figures are in ``generation.parity``)."""
    limit = parity.logits_max_abs_tolerance
    checks = (
        []
        if limit is None
        else [
            ParityCheck(
                output="logits",
                metric="max_abs_diff",
                tolerance=limit,
                measured=parity.logits_max_abs,
                passed=parity.logits_max_abs <= limit,
            ),
        ]
    )
    top1 = parity.top1_agreement if parity.top1_near_tie is None else parity.top1_near_tie
    checks += [
        ParityCheck(output="next_token", metric="label_agreement", tolerance=parity.min_top1,
                    measured=top1, passed=top1 >= parity.min_top1),
        ParityCheck(output="greedy_tokens", metric="label_agreement", tolerance=parity.min_greedy_exact,
                    measured=parity.greedy_exact, passed=parity.greedy_exact >= parity.min_greedy_exact),
        ParityCheck(output="tokens", metric="label_agreement", tolerance=1.0, measured=parity.tokenizer_agreement,
                    passed=parity.tokenizer_agreement >= 1.0),
    ]  # fmt: skip
    if parity.greedy_near_tie is not None and parity.min_greedy_near_tie is not None:
        checks.append(ParityCheck(output="greedy_near_tie", metric="label_agreement",
                                  tolerance=parity.min_greedy_near_tie, measured=parity.greedy_near_tie,
                                  passed=parity.greedy_near_tie >= parity.min_greedy_near_tie))  # fmt: skip
    return ParityReport(sample_count=parity.prompts, passed=parity.passed, checks=checks)


def _failure(parity: GenerationParity) -> str:
    limit = "" if parity.logits_max_abs_tolerance is None else f" (<= {parity.logits_max_abs_tolerance:.3g})"
    figures = (
        f"tokenizer agreement {parity.tokenizer_agreement:.0%}, template agreement "
        f"{'n/a' if parity.template_agreement is None else f'{parity.template_agreement:.0%}'}, "
        f"logits max abs {parity.logits_max_abs:.3g}{limit}, "
        f"KL {parity.kl_max:.3g} (<= {parity.kl_tolerance:.3g}), top-1 {parity.top1_agreement:.1%}"
    )
    if parity.top1_near_tie is None:
        figures += (
            f" (>= {parity.min_top1:.0%}), greedy exact {parity.greedy_exact:.0%} (>= {parity.min_greedy_exact:.0%})"
        )
    else:
        figures += (
            f", within {parity.near_tie_logits:g} logit of the original's choice {parity.top1_near_tie:.1%} "
            f"(>= {parity.min_top1:.0%}), greedy steps within it {parity.greedy_near_tie or 0.0:.1%} "
            f"(>= {parity.min_greedy_near_tie or 0.0:.0%}), greedy exact {parity.greedy_exact:.0%}"
        )
    margin = parity.first_divergence_margin
    where = f"; first divergence at a logit margin of {margin:.4g}" if margin is not None else ""
    return f"the generation gate failed: {figures}{where}"


def _spec(
    source: CausalLMSource, exported: Path, precision: str, gate: GateResult, max_new_tokens: int
) -> GenerationSpec:
    template = source.chat_template
    provider = BUILDER_PRECISIONS[precision][1]
    return GenerationSpec(
        architecture=source.architecture,
        model_type=source.model_type,
        precision=precision.removesuffix("-cuda"),  # type: ignore[arg-type]
        execution_provider=provider,  # type: ignore[arg-type]
        context_length=source.context_length,
        max_new_tokens=min(max_new_tokens, source.context_length - 1),
        eos_token_ids=source.eos_token_ids,
        bos_token_id=source.bos_token_id,
        vocab_size=source.vocab_size,
        tokenizer_sha256=file_sha256(exported / "tokenizer.json"),
        chat_template_file="chat_template.jinja" if template is not None else None,
        chat_template_sha256=template_sha256(template) if template is not None else None,
        template_tokens=source.template_tokens,
        defaults=source.defaults,
        golden_tokens=GOLDEN_TOKENS,
        replay_min_exact=1.0 if provider == "cpu" else CUDA_REPLAY_MIN_EXACT,
        parity=gate.parity,
    )


def package_generative(
    path: Path,
    *,
    name: str,
    version: str,
    out: Path,
    precision: str = "fp32",
    sample: str | Path | Sequence[Any] | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
    log: Path,
    on_step: Callable[[str], None] | None = None,
    provenance: Any,
    created: str,
) -> PackageResult:
    """Export, gate and write one generative bundle (see the module docstring); raises ParityError on a failed gate."""
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    source = read_source(path)
    notes = [f"detected {source.architecture} (causal LM): packaging for text-generation"]
    prompts, note = load_prompts(sample, source.chat_template is not None)
    notes += [note] if note else []
    if BUILDER_PRECISIONS[precision][1] == "cuda":
        notes.append(
            f"{precision} is built for CUDA and gated here on the CPU execution provider (the same graph); "
            "serve it on a GPU with onnxruntime-genai-cuda and MAASKIT_PROVIDERS=cuda,cpu"
        )
    out.mkdir(parents=True, exist_ok=True)
    with work_folder(out, name) as workdir:
        step(f"exporting with the onnxruntime-genai model builder ({precision})")
        exported = export_decoder(path, workdir / "onnx", precision, log)
        for file in _PROCESSING_FILES:  # the tokenizer transformers used, byte for byte
            if (path / file).is_file():
                shutil.copyfile(path / file, exported / file)
        if source.chat_template is not None:
            (exported / "chat_template.jinja").write_text(source.chat_template, encoding="utf-8")
        exported_at = time.perf_counter()
        step("checking generation parity against transformers")
        tolerances = tolerances_for_precision(precision)
        quantized = precision != "fp32"
        gate = run_gate(source, exported, prompts, golden_tokens=GOLDEN_TOKENS, tolerances=tolerances,
                        store_bundle_tokens=quantized)  # fmt: skip
        if not gate.parity.passed:
            report = _summary_report(gate.parity)
            raise ParityError(_failure(gate.parity), report, "generation")
        gated_at = time.perf_counter()
        inputs, outputs, opsets = file_signature(exported / "model.onnx")
        import transformers

        manifest = Manifest(
            name=name, version=version, created=created,
            framework=ToolInfo(name="transformers", version=transformers.__version__),
            converter=ToolInfo(name="onnxruntime-genai", version=builder_version()),
            opsets=opsets, inputs=inputs, outputs=outputs, task="text-generation",
            parity=_summary_report(gate.parity), files={"model.onnx": FileEntry(sha256="0" * 64, size=0)},
            provenance=provenance, metadata=dict(metadata or {}),
            generation=_spec(source, exported, precision, gate, max_new_tokens),
        )  # fmt: skip
        extra = {file.name: file.read_bytes() for file in sorted(exported.iterdir())
                 if file.is_file() and file.name not in {"model.onnx", MODEL_DATA_FILE}}  # fmt: skip
        data = {MODEL_DATA_FILE: exported / MODEL_DATA_FILE} if (exported / MODEL_DATA_FILE).is_file() else None
        step("writing the bundle")
        paths = write_bundle(
            out, manifest, exported / "model.onnx",
            {"prompt": np.asarray(gate.prompts), "input_ids": gate.input_ids}, {"greedy_ids": gate.greedy_ids},
            force=force, extra_files=extra, data_files=data,
        )  # fmt: skip
    from bundle import open_bundle

    written = open_bundle(paths.directory)
    timings = {
        "export_s": exported_at - started,
        "gate_s": gated_at - exported_at,
        "total_s": time.perf_counter() - started,
    }
    return PackageResult(paths.directory, paths.archive, written.manifest, notes, timings)


def check_folder(path: Any) -> None:
    """Refuse, before anything runs, a folder that cannot be packaged for text-generation."""
    if not isinstance(path, str | Path) or not Path(path).is_dir():
        raise PackagingError("text-generation packages a local causal LM folder (save_pretrained): give its path")
    read_source(Path(path))
