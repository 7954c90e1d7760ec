# Source this to get the same environment `make` uses: `. tools/dev-env.sh` (after one `make setup`).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SOLCX_BINARY_PATH="$_root/.venv/solcx"
export APE_DATA_FOLDER="$_root/.venv/ape"
export PATH="$_root/node_modules/.bin:$_root/.venv/bin:$PATH"
unset _root
