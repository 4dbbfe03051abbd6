"""Human-readable renderings (rich) of a bundle, a parity report and a packaging result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bundle import Manifest, ParityReport
from bundle.reference import REFERENCE_FILE, Reference
from bundle.text import human_size

__all__ = ["human_size", "inspect_tables", "parity_lines", "parity_table", "print_tables", "reference_line"]


def _mark(passed: bool) -> str:
    return "[green]ok[/green]" if passed else "[red]FAIL[/red]"


def parity_lines(report: ParityReport) -> list[str]:
    """One plain line per check, e.g. ``probabilities max_abs_diff 5.8e-08 <= 0.0001 ok``."""
    lines = []
    for check in report.checks:
        verdict = "ok" if check.passed else "over"
        lines.append(
            f"{check.output} {check.metric} {check.measured:.3g} ({check.relation} {check.tolerance:g}: {verdict})"
        )
    return lines


def parity_table(report: ParityReport, title: str) -> Table:
    """A table of the parity checks of one stage."""
    table = Table(title=f"{title}: {'passed' if report.passed else 'FAILED'} on {report.sample_count} samples")
    for column in ("output", "metric", "measured", "tolerance", "within"):
        table.add_column(column)
    for check in report.checks:
        table.add_row(check.output, check.metric, f"{check.measured:.3g}", f"{check.tolerance:g}", _mark(check.passed))
    return table


def reference_line(reference: Reference) -> str:
    """What a bundle's recorded reference statistics cover, in one line (drift is measured against them)."""
    if reference.kind == "text":
        parts = []
        for text in reference.texts:
            centroid = f", embedding centroid ({len(text.centroid)} dims)" if text.centroid else ""
            parts.append(f"{text.name}: words per text, OOV {text.oov_rate:.1%}{centroid}")
        return f"{REFERENCE_FILE}: " + ("; ".join(parts) or "no text input")
    rows = max((feature.count for feature in reference.features), default=0)
    return f"{REFERENCE_FILE}: {len(reference.features)} features from {rows} sample rows (PSI bins, missing rates)"


def _overview(manifest: Manifest, root: Path, integrity: str, reference: Reference | None) -> Table:
    table = Table(title=f"{manifest.name} {manifest.version}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    rows: list[tuple[str, str]] = [
        ("created", manifest.created),
        ("framework", f"{manifest.framework.name} {manifest.framework.version}"),
        ("converter", f"{manifest.converter.name} {manifest.converter.version}"),
        ("opsets", ", ".join(f"{domain} {version}" for domain, version in sorted(manifest.opsets.items()))),
        ("task", manifest.task),
    ]
    if manifest.text is not None:
        text = manifest.text
        rows.append(
            (
                "text",
                f"{text.tokenizer_file}, max_length {text.max_length} tokens, vocab_size {text.vocab_size}, "
                f"inputs {', '.join(text.input_names)}",
            )
        )
    if manifest.embedding is not None:
        emb = manifest.embedding
        rows.append(
            ("embedding", f"{emb.output}: {emb.dimensions} dims, {emb.pooling} pooling, normalized {emb.normalized}")
        )
    if manifest.labels is not None:
        rows.append(("labels", ", ".join(str(label) for label in manifest.labels)))
        rows.append(("label / probability outputs", f"{manifest.label_output} / {manifest.probability_output}"))
    for name, entry in sorted(manifest.files.items()):
        rows.append((f"file {name}", f"{human_size(entry.size)}  sha256 {entry.sha256[:16]}…"))
    rows.append(("checksums", integrity))
    if reference is not None:
        rows.append(("reference", reference_line(reference)))
    if manifest.optimization:
        opt = manifest.optimization
        rows.append(
            (
                "optimization",
                f"graph {opt.graph_level}, quantization {opt.quantization}, "
                f"{human_size(opt.size_before)} -> {human_size(opt.size_after)}",
            )
        )
    prov = manifest.provenance
    rows += [
        ("git commit", prov.git_commit or "-"),
        ("CI run", f"{prov.ci_provider} {prov.ci_run_id}" if prov.ci_run_id else "-"),
        ("source", prov.source or "-"),
        ("built with", f"maaskit {prov.maaskit_version}, Python {prov.python_version}"),
        ("location", str(root)),
    ]
    rows += [(f"metadata {key}", value) for key, value in sorted(manifest.metadata.items())]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _signature(manifest: Manifest) -> Table:
    table = Table(title="signature")
    for column in ("role", "name", "dtype", "shape"):
        table.add_column(column)
    for role, specs in (("input", manifest.inputs), ("output", manifest.outputs)):
        for spec in specs:
            shape = "[" + ", ".join("?" if dim is None else str(dim) for dim in spec.shape) + "]"
            table.add_row(role, spec.name, spec.dtype, shape)
    return table


def inspect_tables(manifest: Manifest, root: Path, integrity: str, reference: Reference | None = None) -> list[Any]:
    """The tables ``maaskit inspect`` prints (``reference``: the statistics the bundle recorded, if any)."""
    tables: list[Any] = [
        _overview(manifest, root, integrity, reference),
        _signature(manifest),
        parity_table(manifest.parity, "parity after conversion"),
    ]
    if manifest.optimization:
        tables.append(parity_table(manifest.optimization.parity, "parity after optimization"))
    return tables


def print_tables(console: Console, tables: list[Any]) -> None:
    """Print tables separated by blank lines."""
    for table in tables:
        console.print(table)
