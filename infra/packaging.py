"""Build the Lambda deployment package on this machine (CDK local bundling, no Docker at synth).

Three pieces, each staged by :class:`LocalStaging` into the directory CDK hands to ``try_bundle``:
the runtime's dependencies (``pip install --target`` for the target architecture and CPython 3.11,
cached per architecture and lock file under ``.maaskit/cache``), the runtime's sources
(:data:`RUNTIME_SOURCES`: ``handlers/``, the ``bundle/`` package and ``pyproject.toml``, which holds
the version) less what is not the Lambda target's (:data:`LAMBDA_LEFT_OUT`), and the model bundle.
Every piece is compiled to ``.pyc`` for Python 3.11 and stripped of tests and caches. The container
images ship the same sources (:func:`runtime_sources`, and the Dockerfiles under handlers/docker).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling

from bundle import names
from bundle.limits import LAMBDA_ZIP_UNZIPPED_BYTES

__all__ = [
    "ASSET_KEY_VARIABLE",
    "GENAI_LOCK",
    "GENAI_REQUIREMENTS",
    "LAMBDA_LEFT_OUT",
    "LAMBDA_UNZIPPED_LIMIT",
    "PYTHON_VERSION",
    "RUNTIME_SOURCES",
    "LocalStaging",
    "PackagingError",
    "bundling_options",
    "code_asset_hash",
    "copy_tree",
    "dependency_dir",
    "genai_requirements",
    "lambda_requirements",
    "lock_python",
    "runtime_sources",
    "stage_lambda_code",
    "staged_context",
    "tree_digest",
    "tree_size",
    "unhashed_requirements",
]

#: Lambda's limit on a function's unzipped code and layers together (bundle.limits, DESIGN §5).
LAMBDA_UNZIPPED_LIMIT = LAMBDA_ZIP_UNZIPPED_BYTES
PYTHON_VERSION = "3.11"
Arch = Literal["arm64", "x86_64"]
_PIP_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
_STRIP_DIRS = {"__pycache__", "tests", "test", ".pytest_cache"}
#: Bumped when the staged layout or compilation changes, so old caches are not reused.
_CACHE_FORMAT = "v2"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
#: What every runtime artifact ships, relative to the checkout: the runtime, the bundle contract it
#: reads bundles with, and the project file that holds the version (read by bundle.version).
RUNTIME_SOURCES = ("handlers", "bundle", "pyproject.toml")
#: Runtime paths the Lambda zip leaves out, each with the reason: they serve other targets, and the
#: servers they start (uvicorn) are not in the Lambda dependency layer. Dockerfile.lambda.dockerignore
#: leaves out the same modules.
LAMBDA_LEFT_OUT = {
    "handlers/docker": "build files of the container images",
    "handlers/sagemaker_entry.py": "the SageMaker container entry (uvicorn workers, GPU assignment)",
    "handlers/server.py": "the uvicorn app factory of `maaskit serve --workers` and the containers",
    "handlers/connections.py": "uvicorn protocol subclasses (header timeouts and limits) of the servers maaskit starts",
}


class PackagingError(RuntimeError):
    """The deployment package could not be built; the message says what to install or fix."""


def lambda_requirements(repo_root: Path) -> Path:
    """The pinned lock of the Lambda runtime deps, else ``handlers/requirements.txt``."""
    for candidate in (repo_root / "handlers/docker/requirements-lambda.txt", repo_root / "handlers/requirements.txt"):
        if candidate.is_file():
            return candidate
    raise PackagingError(f"no runtime requirements under {repo_root / 'handlers'}; is this a maaskit checkout?")


#: The generative (streaming) functions' hash-pinned lock, CPython 3.12 (handlers/docker/lock.py lambda-genai).
GENAI_LOCK = "handlers/docker/requirements-lambda-genai.txt"


def genai_requirements(repo_root: Path) -> tuple[Path, tuple[str, ...]]:
    """The generative functions' requirements and the pins to add: their hash-pinned CPython 3.12 lock with
    nothing added; in a checkout without it, the Lambda lock's pins (unhashed) plus :data:`GENAI_REQUIREMENTS`."""
    lock = repo_root / GENAI_LOCK
    if lock.is_file():
        return lock, ()
    return lambda_requirements(repo_root), GENAI_REQUIREMENTS


def lock_python(requirements: Path) -> str | None:
    """The CPython version a lock written by handlers/docker/lock.py is pinned for (its header), else None."""
    head = requirements.read_text(encoding="utf-8")[:400]
    match = re.search(r"for CPython (\d+\.\d+)", head)
    return match.group(1) if match else None


def tree_size(root: Path) -> int:
    """Total bytes of the regular files under ``root`` (or of ``root`` itself when it is a file)."""
    if root.is_file():
        return root.stat().st_size
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` (a directory, or one file) to ``target`` without caches or compiled files."""
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return
    shutil.copytree(source, target, ignore=_IGNORE, dirs_exist_ok=True)


def runtime_sources(repo_root: Path) -> dict[str, Path]:
    """Relative name -> path of each of :data:`RUNTIME_SOURCES` in the checkout ``repo_root``."""
    sources = {name: repo_root / name for name in RUNTIME_SOURCES}
    missing = [name for name, path in sources.items() if not path.exists()]
    if missing:
        raise PackagingError(f"{repo_root} lacks {', '.join(missing)}: synthesize from a maaskit checkout")
    return sources


def stage_lambda_code(out: Path, repo_root: Path, bundle_dir: Path) -> None:
    """Write the Lambda function's code into ``out``: the runtime sources less :data:`LAMBDA_LEFT_OUT`,
    and the model bundle under ``bundles/`` (``MAASKIT_BUNDLES`` points there)."""
    for name, source in runtime_sources(repo_root).items():
        copy_tree(source, out / name)
    for relative in LAMBDA_LEFT_OUT:
        path = out / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    copy_tree(bundle_dir, out / "bundles" / bundle_dir.name)


def _compile(root: Path, runtime_root: str) -> None:
    """Write .pyc next to the sources, deterministically: unchecked-hash (valid on a read-only file system
    whatever the mtimes) and file names rewritten to where the code runs (``runtime_root``), not this
    machine's staging directory, so the same sources always give the same asset hash."""
    command = [
        sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
        "-s", str(root), "-p", runtime_root, str(root),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _strip(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _STRIP_DIRS:
            shutil.rmtree(path, ignore_errors=True)


def _filtered_requirements(requirements: Path, work: Path) -> Path:
    """The unpinned fallback lists uvicorn for the container server; the Lambda package leaves it out."""
    if requirements.name != "requirements.txt":
        return requirements
    kept = [line for line in requirements.read_text().splitlines() if not line.strip().startswith("uvicorn")]
    path = work / "requirements.txt"
    path.write_text("\n".join(kept) + "\n")
    return path


#: What a generative (streaming) function adds to the lock: onnxruntime-genai and the chat templates' jinja2.
GENAI_REQUIREMENTS = ("onnxruntime-genai==0.18.0", "jinja2==3.1.6", "markupsafe==3.0.4")


def unhashed_requirements(requirements: Path, extra: tuple[str, ...], work: Path) -> Path:
    """The lock's pins without their hashes (they are the cp311 wheels'), plus ``extra``: for another Python."""
    pins = [
        line.split(";")[0].replace("\\", "").strip()
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.strip().startswith(("#", "--hash", "-"))
    ]
    path = work / "requirements-unhashed.txt"
    path.write_text("\n".join([*pins, *extra]) + "\n")
    return path


def dependency_dir(
    requirements: Path,
    arch: Arch,
    cache_root: Path,
    *,
    python_version: str = PYTHON_VERSION,
    extra: tuple[str, ...] = (),
) -> Path:
    """Runtime deps installed for ``arch`` and CPython ``python_version``, cached by their hash: a lock made for
    that Python is installed hash-checked; for another Python, or with ``extra`` pins, the lock's versions
    without hashes plus ``extra``.

    Both manylinux tags are passed: with one alone pip silently picks old or wrong wheels. ``.pyc`` files are
    compiled only for 3.11 (the one Python here); other targets compile at import.
    """
    tag = "cp" + python_version.replace(".", "")
    digest = hashlib.sha256(requirements.read_bytes() + "\n".join(extra).encode()).hexdigest()[:16]
    flavour = f"{tag}-genai" if extra or "genai" in requirements.name else tag
    target = cache_root / f"deps-{arch}-{flavour}-{_CACHE_FORMAT}-{digest}"
    if (target / ".complete").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_root))
    try:
        pip_arch = _PIP_ARCH[arch]
        hashed = not extra and (lock_python(requirements) or PYTHON_VERSION) == python_version
        lock = (
            _filtered_requirements(requirements, work) if hashed else unhashed_requirements(requirements, extra, work)
        )
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(work / "python"), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python_version, "--platform", f"manylinux_2_28_{pip_arch}",
            "--platform", f"manylinux2014_{pip_arch}", "-r", str(lock),
        ]  # fmt: skip
        if hashed and requirements.name != "requirements.txt":
            command.append("--require-hashes")
        if not hashed:
            command.append("--no-deps")  # the lock is complete: nothing beyond its pins and ``extra``
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PackagingError(
                f"pip could not install the Lambda runtime deps for {arch} and Python {python_version} from "
                f"{requirements}:\n{result.stderr.strip()[-2000:]}\nCheck network access to the package index, "
                "then synthesize again."
            )
        _strip(work / "python")
        if python_version == PYTHON_VERSION:
            _compile(work / "python", "/opt/python")
        (work / ".complete").write_text(digest)
        if (target / ".complete").is_file():
            return target  # another synthesis (a parallel test worker) finished first: its copy may be in use
        if target.exists():
            shutil.rmtree(target)  # an incomplete leftover
        try:
            os.replace(work, target)
        except OSError:
            if not (target / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@jsii.implements(ILocalBundling)
class LocalStaging:
    """CDK local bundling: run ``stage(output_dir)`` on this machine instead of in a container."""

    def __init__(self, stage: Callable[[Path], None], *, compile_python: bool = True) -> None:
        self._stage = stage
        self._compile = compile_python

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        """Stage into ``output_dir``; True tells CDK no Docker run is needed."""
        out = Path(output_dir)
        self._stage(out)
        if self._compile:
            _compile(out, "/var/task")
        return True


#: Bundling environment variable that carries an asset's key (never read: it keys CDK's staging cache).
ASSET_KEY_VARIABLE = names.ASSET_KEY


def bundling_options(stage: Callable[[Path], None], *, key: str, compile_python: bool = True) -> BundlingOptions:
    """Bundling that always runs locally (compiling .pyc for 3.11 unless told not to); the image is only
    the fallback CDK's API requires, never run.

    ``key`` names what the staged asset holds (e.g. :func:`code_asset_hash`). CDK caches a staging by its
    source folder and bundling options, so assets staged from one folder need distinct keys, else every one
    gets the first staging; the key goes in the (never used) container environment, which is part of them.
    """
    return BundlingOptions(
        image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
        local=LocalStaging(stage, compile_python=compile_python),
        command=["bash", "-c", "echo 'maaskit stages this asset locally; Docker is never used' && exit 1"],
        environment={ASSET_KEY_VARIABLE: key},
    )


def code_asset_hash(source_root: Path, bundle_digest: str) -> str:
    """The key of a Lambda code asset's staging: the bundle it holds (its manifest's sha256), the runtime
    sources, and how they are staged (this module, the target Python, what is left out).

    CDK caches a locally bundled asset by its source folder and bundling options, which every endpoint shares:
    without this key (see :func:`bundling_options`) it hands every function the first staging (issue 20).
    The cache lives as long as the process, so whatever changes the staged files is in the key.
    """
    parts = [
        f"bundle={bundle_digest}",
        f"python={PYTHON_VERSION}",
        f"format={_CACHE_FORMAT}",
        f"left-out={','.join(sorted(LAMBDA_LEFT_OUT))}",
        f"staging={hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}",
        *(f"{name}={tree_digest(path)}" for name, path in sorted(runtime_sources(source_root).items())),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def tree_digest(root: Path) -> str:
    """sha256 over the relative paths and bytes of the files under ``root`` (caches left out)."""
    digest = hashlib.sha256()
    if root.is_file():
        digest.update(root.read_bytes())
        return digest.hexdigest()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def staged_context(build_root: Path, label: str, trees: dict[str, Path]) -> Path:
    """A Docker build context under ``build_root`` holding each ``trees`` source at its relative name.

    Content-addressed (same sources, same directory) and written atomically, so CDK's image asset
    hash only changes when the sources do and the repository root (with .venv) is never the context.
    """
    key = hashlib.sha256("".join(f"{name}={tree_digest(src)};" for name, src in sorted(trees.items())).encode())
    target = build_root / "contexts" / f"{label}-{key.hexdigest()[:16]}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, source in trees.items():
            copy_tree(source, staging / name)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
