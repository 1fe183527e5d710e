#!/usr/bin/env bash
# Browser end-to-end test: builds the server (debug), starts it on free ports
# with a throw-away data directory, and drives two headless Chromium pages
# against the client it serves at `/`.
#
#   e2e/run.sh                      # from anywhere
#   METAVERSE_ARTIFACTS=dir         # screenshots, console logs, server log (default target/e2e)
#   METAVERSE_E2E_SKIP_NEARBY=1     # stop before the proximity step
#   METAVERSE_E2E_RTC=require       # fail if the WebRTC call does not connect
#   METAVERSE_E2E_NO_BUILD=1        # use target/debug/metaverse as it is (built by an earlier step)
#
# Needs: cargo, node >= 20, npm, python3, curl, and Debian's chromium
# (/usr/bin/chromium; installed with apt-get when missing and running as root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export METAVERSE_ARTIFACTS="${METAVERSE_ARTIFACTS:-$root/target/e2e}"
mkdir -p "$METAVERSE_ARTIFACTS"

log() { printf '[e2e] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- prerequisites
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing chromium (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    log "/usr/bin/chromium is missing: apt-get install -y chromium"; exit 2
  fi
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  log "npm ci (playwright-core)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ "${METAVERSE_E2E_NO_BUILD:-}" == 1 ]]; then
  log "using the existing target/debug/metaverse (METAVERSE_E2E_NO_BUILD=1)"
else
  log "cargo build -p metaverse-server"
  (cd "$root" && cargo build -q -p metaverse-server)
fi
bin="${CARGO_TARGET_DIR:-$root/target}/debug/metaverse"

# ---------------------------------------------------------------- ports and data
# Two free consecutive ports: HTTP on p, WebSocket on p+1 (the client's default).
read -r http_port ws_port < <(python3 - <<'EOF'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); socks.append(s)
        print(p, p + 1); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
EOF
)
data_dir="$(mktemp -d -t metaverse-e2e.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir"
}
trap cleanup EXIT

start_server() {
  # The embedded defaults, as a new user gets them (CI exports service URLs).
  env -u DATABASE_URL -u KAFKA_BROKERS -u REDIS_URL "$bin" --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" --admin-addr 127.0.0.1:0 \
    --data-dir "$data_dir" --admin-signup open --log warn "$@" \
    >>"$METAVERSE_ARTIFACTS/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$http_port/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then log "the server exited; see $METAVERSE_ARTIFACTS/server.log"; exit 2; fi
    sleep 0.1
  done
  log "the server did not answer /health in 10 s"; exit 2
}


: >"$METAVERSE_ARTIFACTS/server.log"
start_server
url="http://127.0.0.1:$http_port/"
# Read the whole page before matching: `grep -q` would stop reading at the
# match, and under pipefail curl's "failed writing body" fails the check.
curl -fsS "$url" -o "$data_dir/index.html" && grep -q 'metaverse-ws' "$data_dir/index.html" \
  || { log "the server does not serve the client at $url"; exit 2; }

# ---------------------------------------------------------------- tests
status=0
log "browser test against $url"
METAVERSE_URL="$url" node "$here/browser.test.mjs" || status=$?
log "WebRTC loopback test"
METAVERSE_URL="$url" node "$here/rtc-loopback.test.mjs" || { s=$?; [[ $status -eq 0 ]] && status=$s; }
log "artifacts in $METAVERSE_ARTIFACTS"
exit "$status"
