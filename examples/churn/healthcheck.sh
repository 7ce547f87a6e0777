#!/usr/bin/env bash
# Canary health check: exit 0 when the service answers 2xx at $CANARY_URL.
# Python rather than curl: every runner that runs mlgen has Python, not every image has curl.
set -euo pipefail

url="${CANARY_URL:-http://127.0.0.1:8765/healthz}"
python="${PYTHON:-python3}"

exec "$python" - "$url" <<'PY'
import sys
import urllib.error
import urllib.request

url = sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=5) as response:
        status = response.status
except urllib.error.HTTPError as exc:
    status = exc.code
except (urllib.error.URLError, OSError) as exc:
    print(f"healthcheck: {url} is unreachable: {getattr(exc, 'reason', exc)}", file=sys.stderr)
    sys.exit(1)
if not 200 <= status < 300:
    print(f"healthcheck: {url} answered HTTP {status}", file=sys.stderr)
    sys.exit(1)
print(f"healthcheck: {url} ok ({status})")
PY
