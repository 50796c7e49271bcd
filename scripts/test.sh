#!/usr/bin/env bash
# Run the test suite: scripts/setup.sh first (it installs and starts what the tests need; tests start their own
# Kafka broker on a free port through scripts/kafka.sh), then pytest from the repository root with any
# arguments given, e.g. `scripts/test.sh -m "not browser" -x`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
echo "[test] .venv/bin/pytest $*"
exec .venv/bin/pytest "$@"
