#!/usr/bin/env bash
# Installs hermes-agent, pinned, into the adapter's cache (run once by `keypool conform`).
set -euo pipefail
cache="$1"
mkdir -p "$cache"
python3 -m venv "$cache/venv"
"$cache/venv/bin/pip" install --quiet --disable-pip-version-check "hermes-agent==0.19.0"
