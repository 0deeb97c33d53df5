# Sourced by generate.sh and test.sh (not executable on its own).
#
# ensure_deps: makes the exact versions of requirements.txt importable from
# <repo>/.deps/pyclient (git-ignored), installing them with pip only when one
# is missing or at another version, and puts that directory on PYTHONPATH.
# MCP_REGISTRY_PYCLIENT_DEPS overrides the directory; PYTHON the interpreter.

: "${PYTHON:=python3}"

_pyclient_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_pyclient_root=$(cd "$_pyclient_here/../.." && pwd)
pyclient_deps=${MCP_REGISTRY_PYCLIENT_DEPS:-$_pyclient_root/.deps/pyclient}
pyclient_requirements="$_pyclient_here/requirements.txt"

# Exit status 0 when every `name==version` of requirements.txt is installed in
# $pyclient_deps at exactly that version; prints the ones that are not.
_pyclient_deps_ok() {
  [[ -d "$pyclient_deps" ]] || return 1
  "$PYTHON" - "$pyclient_deps" "$pyclient_requirements" <<'PY'
import importlib.metadata as md
import re
import sys

target, requirements = sys.argv[1:]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wanted = {}
for line in open(requirements, encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if line:
        name, version = line.split("==")
        wanted[norm(name)] = version.strip()
have = {norm(d.metadata["Name"]): d.version for d in md.distributions(path=[target])}
wrong = [f"{n}=={v} (have {have.get(n, 'none')})" for n, v in wanted.items() if have.get(n) != v]
for w in wrong:
    print(f"  needs {w}")
sys.exit(1 if wrong else 0)
PY
}

ensure_deps() {
  if ! _pyclient_deps_ok >/dev/null; then
    echo "installing pinned Python packages into $pyclient_deps"
    _pyclient_deps_ok || true
    rm -rf "$pyclient_deps"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target "$pyclient_deps" -r "$pyclient_requirements"
    if ! _pyclient_deps_ok; then
      echo "error: $pyclient_deps does not hold the versions of $pyclient_requirements" >&2
      return 1
    fi
  fi
  export PYTHONPATH="$pyclient_deps${PYTHONPATH:+:$PYTHONPATH}"
}
