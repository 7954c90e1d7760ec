#!/usr/bin/env bash
# The solc Slither (crytic-compile) runs: the project's solcjs wrapper in standard-JSON mode, rooted at
# the checkout so the OpenZeppelin remapping resolves. crytic-compile passes --allow-paths, which solcjs
# lacks (the wrapper drops it too). See ../shared/toolchain.md, "Analysis and checking tools".
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
wrapper="${SOLCX_BINARY_PATH:-$root/.venv/solcx}/solc-v${TWINLEDGER_SOLC_VERSION:-0.8.28}"
if [ "${1:-}" = "--version" ]; then exec "$wrapper" --version; fi
exec "$wrapper" --standard-json --base-path "$root"
