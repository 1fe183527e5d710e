#!/usr/bin/env bash
# CI: known vulnerabilities (RustSec advisories) in the locked dependencies,
# with cargo-audit. The advisory database is a git repository fetched at
# run time; where it cannot be reached the check is skipped with a line
# saying so, never failed: a network outage is not a finding.
#
#   bash .ci/advisories.sh        # a few seconds once cargo-audit is installed
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

DB_URL=https://github.com/rustsec/advisory-db
if ! GIT_TERMINAL_PROMPT=0 timeout 30 git ls-remote --heads "$DB_URL" >/dev/null 2>&1; then
  echo "ci: advisories skipped: the RustSec advisory database ($DB_URL) cannot be fetched from this machine"
  exit 0
fi

if ! command -v cargo-audit >/dev/null; then
  echo "ci: installing cargo-audit (several minutes)"
  cargo install cargo-audit --locked
fi

echo "ci: advisories (cargo audit against Cargo.lock)"
# Warnings (unmaintained, yanked) are printed; only vulnerabilities fail.
cargo audit --file Cargo.lock
