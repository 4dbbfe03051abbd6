#!/usr/bin/env bash
# End to end on local defaults: install, train a sample model, package it (parity gate),
# verify the bundle, serve it on 127.0.0.1 and call it over HTTP. Stops its server on exit.
# The installer's own output goes to .maaskit/quickstart/setup.log (shown only when it fails).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${MAASKIT_PORT:-8765}"
work=".maaskit/quickstart"
mkdir -p "$work"

step() { printf '\n==> %s\n' "$*"; }

step "installing maaskit with the scikit-learn converters into .venv (log: $work/setup.log)"
if ! scripts/setup.sh sklearn >"$work/setup.log" 2>&1; then
  echo "installation failed; the last lines of $work/setup.log:" >&2
  tail -n 30 "$work/setup.log" >&2
  exit 1
fi

step "training a sample iris classifier"
.venv/bin/python examples/train_sample.py --out "$work"

step "packaging it: ONNX conversion, parity gate, bundle"
.venv/bin/maaskit package "$work/model.joblib" --name iris --version 1.0.0 \
  --sample "$work/sample.npy" --out "$work/bundles" --force

step "verifying the bundle (checksums, schema, samples re-run)"
.venv/bin/maaskit verify "$work/bundles/iris-1.0.0.tar.gz"
.venv/bin/maaskit inspect "$work/bundles/iris-1.0.0"

step "serving it on http://127.0.0.1:$port (log: $work/serve.log)"
.venv/bin/maaskit serve "$work/bundles/iris-1.0.0.tar.gz" --host 127.0.0.1 --port "$port" >"$work/serve.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
ready=0
for _ in $(seq 1 150); do
  if .venv/bin/python -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port/v2/health/ready').status_code != 200)" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [[ $ready -ne 1 ]]; then
  echo "the server did not become ready; its log:" >&2
  tail -n 30 "$work/serve.log" >&2
  exit 1
fi

step "calling it over HTTP"
.venv/bin/maaskit invoke "http://127.0.0.1:$port" --model iris --data "$work/sample.npy"
echo
echo "quickstart OK: packaged, verified, served and called iris 1.0.0"
echo "Model page: http://127.0.0.1:$port/models/iris"
if [[ -t 0 ]]; then
  read -r -p "Open it in a browser; press Enter to stop the server. " _
fi
