#!/usr/bin/env bash
# ctest OpenAiClientTest: `omnisage serve` against the official openai Python package.
#
#   openai_client_test.sh OMNISAGE_BINARY VENV_DIR
#
# Runs tools/reference/check_openai_client.py (the tiny preset, a server on a free loopback port)
# with the pinned openai package from a virtual environment in the build directory. The venv is
# made once and reused: it is complete only when its stamp file (named after the pinned version)
# exists, so a venv from an interrupted install, or of another version, is made again. Making it
# needs python3 with venv (scripts/install-deps.sh installs python3-venv) and PyPI; when pip cannot
# install the package the test FAILS with a message saying so (it does not skip: a skipped client
# check would pass CI without ever talking to the client). Any failed check fails the test.
set -euo pipefail
OPENAI_VERSION=3.63.0  # keep in step with tools/reference/requirements.txt
binary=$1
venv=$2
here=$(cd "$(dirname "$0")" && pwd)
script="$here/../../tools/reference/check_openai_client.py"
stamp="$venv/omnisage-openai-$OPENAI_VERSION.stamp"

if [ ! -f "$stamp" ]; then
  exec 9>"$venv.lock"
  flock 9  # one maker at a time (two build trees may share nothing, but two ctest runs may)
  if [ ! -f "$stamp" ]; then
    echo "openai_client_test: making $venv (python3 -m venv, pip install openai==$OPENAI_VERSION)"
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
      echo "FAILED: python3 -m venv $venv did not work: install python3 and python3-venv" \
        "(scripts/install-deps.sh does)" >&2
      exit 1
    fi
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
      --timeout 30 --retries 2 "openai==$OPENAI_VERSION"; then
      echo "FAILED: pip could not install openai==$OPENAI_VERSION into $venv: is PyPI" \
        "reachable? This test needs the official client and does not skip without it." >&2
      exit 1
    fi
    touch "$stamp"
  fi
fi
exec "$venv/bin/python" "$script" --omnisage "$binary"
