#!/usr/bin/env bash
# Quick start: set everything up, load demo data (first run only) and serve on 127.0.0.1:8001.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/taizhang init --demo
exec .venv/bin/taizhang serve "$@"
