#!/usr/bin/env bash
# CI: schemathesis against a live server's own OpenAPI document. Every
# operation gets generated requests, valid and invalid; the run fails on a
# 5xx or on an answer the document does not describe (status, content type
# or body schema). Runs the debug binary `cargo test` built, on embedded
# defaults (SQLite in a temporary data dir, in-process backplane).
#
#   bash .ci/schemathesis.sh            # about 3 minutes
#   METAVERSE_BIN=path/to/metaverse ST_MAX_EXAMPLES=10 bash .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${METAVERSE_BIN:-${CARGO_TARGET_DIR:-target}/debug/metaverse}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
MAX_TIME="${ST_MAX_TIME:-180}"
OUT=target/schemathesis
mkdir -p "$OUT"

if [ ! -x "$BIN" ]; then
  echo "ci: FATAL: $BIN is missing (cargo test or cargo build builds it)" >&2
  exit 1
fi
# The 4.x CLI (`st run`, `--checks`, `--max-time`); 3.x spelled them otherwise.
ST="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/st"
if ! python3 -c 'import schemathesis, sys; sys.exit(not schemathesis.__version__.startswith("4."))' 2>/dev/null ||
  [ ! -x "$ST" ]; then
  echo "ci: installing schemathesis 4"
  python3 -m pip install --quiet 'schemathesis==4.32.5'
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
WS_PORT=$(free_port)
BASE="http://127.0.0.1:$HTTP_PORT"
DATA=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# The CI's service variables would put this server on the shared
# PostgreSQL, Kafka and Redis; it must run on its own embedded defaults.
env -u DATABASE_URL -u KAFKA_BROKERS -u REDIS_URL \
  "$BIN" serve --http-addr "127.0.0.1:$HTTP_PORT" --ws-addr "127.0.0.1:$WS_PORT" --admin-addr 127.0.0.1:0 \
  --data-dir "$DATA" --log warn >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

for ((i = 0; i < 300; i++)); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "ci: FATAL: the server exited; log:" >&2; cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$BASE/health" >/dev/null || { echo "ci: FATAL: no /health on $BASE" >&2; exit 1; }
echo "ci: server up on $BASE (data in $DATA)"

# The first account may sign up as admin (`--admin-signup first`), so the
# admin routes are exercised with a token that passes their role check.
USERNAME=st_admin
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
curl -fsS -X POST "$BASE/api/v1/signup" -H 'content-type: application/json' \
  -d "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\",\"type\":\"admin\"}" >/dev/null
TOKEN=$(curl -fsS -X POST "$BASE/api/v1/signin" -H 'content-type: application/json' \
  -d "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

# Sign-out is left out: it revokes the one token the whole run uses, and
# every protected route would answer 403 after it (server/tests cover it).
echo "ci: schemathesis, at most $MAX_EXAMPLES examples per operation and ${MAX_TIME}s"
status=0
# From target/schemathesis, where schemathesis also keeps its replay cache.
(cd "$OUT" && "$ST" run "$BASE/api/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --exclude-path /api/v1/signout \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" \
  --seed "${ST_SEED:-1}" --workers 2 --request-timeout 15 \
  --report junit --report-dir .) || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "ci: FATAL: the server died under schemathesis; log tail:" >&2
  tail -50 "$OUT/server.log" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "ci: FATAL: schemathesis found failures (above; server log in $OUT/server.log)" >&2
  exit "$status"
fi
echo "ci: schemathesis passed"
