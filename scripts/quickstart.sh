#!/usr/bin/env bash
# End to end on local defaults: install, train a sample model, package it (parity gate),
# verify the bundle, serve it on 127.0.0.1 and call it over HTTP. Stops its server on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${MAASKIT_PORT:-8765}"
work=".maaskit/quickstart"

scripts/setup.sh sklearn
mkdir -p "$work"
.venv/bin/python examples/train_sample.py --out "$work"
.venv/bin/maaskit package "$work/model.joblib" --name iris --version 1.0.0 \
  --sample "$work/sample.npy" --out "$work/bundles" --force
.venv/bin/maaskit verify "$work/bundles/iris-1.0.0.tar.gz"
.venv/bin/maaskit inspect "$work/bundles/iris-1.0.0"

.venv/bin/maaskit serve "$work/bundles/iris-1.0.0.tar.gz" --host 127.0.0.1 --port "$port" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import httpx,sys; sys.exit(httpx.get('http://127.0.0.1:$port/v2/health/ready').status_code != 200)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
.venv/bin/maaskit invoke "http://127.0.0.1:$port" --model iris --data "$work/sample.npy"
echo "quickstart OK: packaged, verified, served and called iris 1.0.0"
echo "Model page: http://127.0.0.1:$port/models/iris"
if [[ -t 0 ]]; then
  read -r -p "Open it in a browser; press Enter to stop the server. " _
fi
