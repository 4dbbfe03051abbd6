"""Open a bundle (directory or .tar.gz) and verify it before anyone trusts it."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bundle.errors import BundleFormatError, BundleIntegrityError, BundleNotFoundError
from bundle.manifest import Manifest, load_manifest
from bundle.samples import Samples, read_samples

__all__ = [
    "Bundle",
    "MANIFEST_FILE",
    "MODEL_DATA_FILE",
    "MODEL_FILE",
    "SAMPLES_FILE",
    "file_sha256",
    "open_bundle",
    "verify_files",
]

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
#: External weights of a large model (over 512 MiB; a must over 2 GB) beside model.onnx (resolved from its path).
MODEL_DATA_FILE = "model.onnx.data"
SAMPLES_FILE = "samples.npz"
_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A bundle on disk whose manifest has been parsed (and, by default, verified)."""

    root: Path
    manifest: Manifest

    @property
    def model_path(self) -> Path:
        """Path of model.onnx."""
        return self.root / MODEL_FILE

    @property
    def key(self) -> str:
        """``name-version``, the bundle's identity."""
        return f"{self.manifest.name}-{self.manifest.version}"

    def samples(self) -> Samples:
        """Load samples.npz (no pickle)."""
        return read_samples(self.root / SAMPLES_FILE)


def verify_files(root: Path, manifest: Manifest) -> None:
    """Check every file listed in the manifest for presence, size and sha256."""
    for name, entry in sorted(manifest.files.items()):
        path = root / name
        if not path.is_file():
            raise BundleIntegrityError(f"{root}: {name} is listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry.size:
            raise BundleIntegrityError(
                f"{root}: {name} is {size} bytes, the manifest says {entry.size}; the bundle was altered or truncated"
            )
        if file_sha256(path) != entry.sha256:
            raise BundleIntegrityError(
                f"{root}: {name} does not match its sha256 in the manifest; the bundle was altered. "
                "Repackage it or fetch an intact copy."
            )


def _read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise BundleFormatError(f"{root} has no {MANIFEST_FILE}; is it a maaskit bundle?")
    return load_manifest(path.read_bytes(), source=str(path))


def open_bundle(path: str | Path, *, verify: bool = True, extract_to: Path | None = None) -> Bundle:
    """Open a bundle directory or ``.tar.gz`` archive; verify checksums unless told not to.

    Archives are extracted safely into ``extract_to`` (a new temporary directory by default).
    """
    source = Path(path)
    if source.is_dir():
        root = source.resolve()
    elif source.is_file() and source.name.endswith((".tar.gz", ".tgz", ".tar")):
        from bundle.archive import extract_archive  # tarfile costs ~6 ms: only load it for archives

        root = extract_to or Path(tempfile.mkdtemp(prefix="maaskit-bundle-"))
        extract_archive(source, root)
        root = root.resolve()
    elif source.exists():
        raise BundleNotFoundError(f"{source} is neither a bundle directory nor a .tar.gz bundle archive")
    else:
        raise BundleNotFoundError(f"{source} does not exist; give the path of a bundle directory or .tar.gz")
    manifest = _read_manifest(root)
    if verify:
        verify_files(root, manifest)
    return Bundle(root=root, manifest=manifest)
