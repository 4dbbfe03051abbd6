"""The CDK app: ``cdk synth`` runs ``python -m infra.app`` (see cdk.json).

Reads its context (``maaskit:stage``, default ``dev``; ``maaskit:config``, default
``maaskit.deploy.yaml``; ``maaskit:nag``, default true) and the deploy file once, resolves the
bundles, and builds one :class:`~infra.stack.MaaskitStack` named ``maaskit-<stage>``. The constructs
below never read context: everything reaches them as typed props.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App, Environment

from infra.bundles import BundleSource, resolve_bundle
from infra.config import ConfigError, DeployConfig, load_config
from infra.nag import enable_nag
from infra.names import stage_name
from infra.stack import MaaskitStack, MaaskitStackProps

__all__ = ["REPO_ROOT", "build_stack", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _resolve(
    config: DeployConfig, base_dir: Path, build_root: Path, stage: str
) -> tuple[dict[str, BundleSource], dict[str, BundleSource]]:
    bundles, challengers = {}, {}
    for endpoint in config.endpoints:
        bundles[endpoint.name] = resolve_bundle(endpoint.bundle, endpoint.name, base_dir, build_root, stage)
        challenger = endpoint.sagemaker.challenger if endpoint.target != "lambda" else None
        if challenger is not None:
            challengers[endpoint.name] = resolve_bundle(challenger.bundle, endpoint.name, base_dir, build_root, stage)
    return bundles, challengers


def build_stack(
    app: App,
    *,
    stage: str,
    config_path: Path,
    repo_root: Path = REPO_ROOT,
    nag: bool = True,
    env: Environment | None = None,
) -> MaaskitStack:
    """Validate the deploy file and add the stage's stack to ``app`` (cdk-nag on unless ``nag`` is false)."""
    config = load_config(config_path, stage)
    build_root = repo_root / ".maaskit" / "build"
    bundles, challengers = _resolve(config, config_path.resolve().parent, build_root, stage)
    props = MaaskitStackProps(
        stage=stage, config=config, bundles=bundles, challengers=challengers, repo_root=repo_root, build_root=build_root
    )
    stack = MaaskitStack(app, stage_name(stage), props, env=env)
    if nag:
        enable_nag(app)
    return stack


def _context_flag(value: object) -> bool:
    return str(value).lower() not in {"0", "false", "no", "off"}


def main() -> int:
    """Entry of ``cdk synth``/``cdk deploy``: exit 2 with the message when the configuration is wrong."""
    app = App()
    stage = str(app.node.try_get_context("maaskit:stage") or "dev")
    config_path = Path(str(app.node.try_get_context("maaskit:config") or "maaskit.deploy.yaml"))
    try:
        nag = app.node.try_get_context("maaskit:nag")
        build_stack(app, stage=stage, config_path=config_path, nag=True if nag is None else _context_flag(nag))
    except ConfigError as exc:
        print(f"maaskit: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
