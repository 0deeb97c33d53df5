#!/usr/bin/env bash
# Tests of the Python client, against the real service binary:
#
#   clients/python/test.sh            # from the repository root (or anywhere)
#
# 1. installs the exact versions of requirements.txt into <repo>/.deps/pyclient
#    (skipped when they are already there);
# 2. checks that the committed generated code matches proto/ (generate.sh --check);
# 3. installs the package itself with pip into <repo>/.deps/pyclient-pkg, as a user
#    would (`pip install ./clients/python`), so the tests import the installed copy;
# 4. runs tests/test_scenario.py with pytest: the binary MCP_REGISTRY_BIN (default
#    target/debug/mcp-registry; relative paths are taken from where you run this)
#    and server-everything MCP_REGISTRY_TEST_EVERYTHING (default: the copy that
#    scripts/test installs in .deps/npm). Without them the tests are skipped, or
#    fail when CI=true.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

step() { printf '\n==> %s\n' "$*"; }

bin=${MCP_REGISTRY_BIN:-target/debug/mcp-registry}
if [[ "$bin" != /* ]]; then
  # Relative to the caller's directory when it exists there, else to the repo root.
  if [[ -e "$bin" ]]; then bin="$(pwd)/$bin"; else bin="$root/$bin"; fi
fi
export MCP_REGISTRY_BIN="$bin"
if [[ -z "${MCP_REGISTRY_TEST_EVERYTHING:-}" ]]; then
  default_everything="$root/.deps/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
  [[ -f "$default_everything" ]] && export MCP_REGISTRY_TEST_EVERYTHING="$default_everything"
fi

cd "$root"

step "python client: pinned dependencies"
# shellcheck source=scripts/deps.sh
source "$here/scripts/deps.sh"
ensure_deps
"$PYTHON" --version
"$PYTHON" - <<'PY'
import importlib.metadata as m
print(", ".join(f"{n} {m.version(n)}" for n in ("grpcio", "grpcio-tools", "grpcio-status", "protobuf", "googleapis-common-protos", "pytest")))
PY

step "python client: generated code matches proto/"
"$here/generate.sh" --check

step "python client: pip install ./clients/python"
pkg_target="$root/.deps/pyclient-pkg"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
# Build from a copy so that setuptools leaves no build/ or *.egg-info in the tree.
tar -C "$here" --exclude=build --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache -cf - . \
  | tar -C "$build" -xf -
rm -rf "$pkg_target"
# --no-build-isolation: the pinned setuptools of .deps/pyclient builds it, offline.
"$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  --no-deps --no-build-isolation --target "$pkg_target" "$build"
export PYTHONPATH="$pkg_target:$PYTHONPATH"
(cd / && "$PYTHON" -c 'import mcp_registry_client as m; print("installed", m.__file__)')

step "python client: scenario against $MCP_REGISTRY_BIN"
echo "server-everything: ${MCP_REGISTRY_TEST_EVERYTHING:-(not set)}"
"$PYTHON" -m pytest "$here/tests" -v -s -p no:cacheprovider --rootdir "$here" -rfEs --color=no
