#!/usr/bin/env bash
# The full test suite, browser tests included. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m fast` for the quick subset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium for the browser tests…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
