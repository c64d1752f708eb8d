# Sourced by scripts/demo and scripts/test: make .venv and install dgtrio with its
# dev extras into it, again only when pyproject.toml has changed since.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  if ! "${PYTHON:-python3}" -m venv .venv; then
    echo "could not create .venv: install Python 3.11+ with venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
stamp=.venv/.dgtrio-installed
wanted=$(cat pyproject.toml | cksum)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing dgtrio and its development dependencies into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$wanted" > "$stamp"
fi
