#!/usr/bin/env bash
# The full test suite, browser tests included. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m fast` for the quick subset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# Debian's chromium drives the browser tests; a CJK font makes their screenshots legible.
missing=""
for pkg in chromium fonts-wqy-zenhei; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages for the browser tests:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "The browser tests need Debian packages: sudo apt-get install$missing" >&2
    exit 1
  fi
fi
# Two workers, one per core; --dist loadfile keeps each file's module fixtures in one worker.
# TAIZHANG_TEST_WORKERS=0 runs in one process (for a debugger, or -x on the first failure).
workers=${TAIZHANG_TEST_WORKERS:-2}
parallel=()
[ "$workers" != 0 ] && parallel=(-n "$workers" --dist loadfile)
exec .venv/bin/python -m pytest -p no:cacheprovider "${parallel[@]}" "$@"
