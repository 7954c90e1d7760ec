#!/usr/bin/env bash
# Makes the npm `solcjs` (the official emscripten build of solc) look like a native `solc-vX.Y.Z`
# for py-solc-x / ape-solidity, which only run executables found in $SOLCX_BINARY_PATH.
# `make` copies this file there as `solc-v<version>`; see ../shared/toolchain.md for why each step exists.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
solcjs="${TWINLEDGER_SOLCJS:-$(cat "$here/.solcjs-path")}"

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version)
      echo "solc, the solidity compiler commandline interface"
      echo "Version: $("$solcjs" --version)"
      exit 0 ;;
    --allow-paths) shift 2 ;;            # solcjs has no such flag; --base-path already scopes reads
    --allow-paths=*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# solcjs truncates its stdout at 64 KiB when it is a pipe (Node exits before flushing), and fails
# with EAGAIN reading a non-blocking stdin pipe: give it files on both ends.
in="$(mktemp)"; out="$(mktemp)"
trap 'rm -f "$in" "$out"' EXIT
if [ ! -t 0 ]; then cat >"$in"; fi
"$solcjs" "${args[@]}" <"$in" >"$out"
status=$?
# solcjs prints a note about SMT solvers on lines starting with '>>>', which breaks the JSON.
grep -v '^>>>' "$out"
exit $status
