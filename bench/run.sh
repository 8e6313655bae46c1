#!/usr/bin/env bash
# `npm run bench`: raises the open-file limit (10,000 sockets on each side of the fan-out and
# memory scenarios), then runs every scenario; arguments pass through to bench/run.js.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10500 ]; then
  echo "warning: open-file limit is $(ulimit -n); 10,000 sockets need about 10,500 per process (try --sockets 2000)" >&2
fi
exec node bench/run.js "$@"
