#!/usr/bin/env bash
# Create ./.venv and install maaskit with the extras given as arguments (default: sklearn).
#   scripts/setup.sh                 # core + scikit-learn converters
#   scripts/setup.sh all             # every framework, AWS/CDK tooling and test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-sklearn}"
if [[ "$extras" == "all" ]]; then
  extras="sklearn,xgboost,lightgbm,catboost,torch,tensorflow,text,image,speech,speech-av,genai,aws,cdk,server,dev"
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [[ ",$extras," == *",torch,"* ]]; then
  # Pinned on purpose: an unpinned torch pulls a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
if [[ ",$extras," == *",cdk,"* ]] && command -v npm >/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [[ ",$extras," == *",dev,"* ]] && ! command -v chromium >/dev/null; then
  # The model page's browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
  if [[ $(id -u) -eq 0 ]]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  if command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $apt_get install -y -q chromium >/dev/null \
      || { $apt_get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $apt_get install -y -q chromium >/dev/null; }
  else
    echo "warning: install Chromium (the browser tests need a 'chromium' on PATH)" >&2
  fi
fi
echo "maaskit installed in .venv with extras: ${extras}"
