#!/usr/bin/env bash
# Install everything the tests need (all converters, CDK CLI, moto, linters) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
.venv/bin/python -m pytest "$@"
