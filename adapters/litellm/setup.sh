#!/usr/bin/env bash
# Installs the LiteLLM proxy, pinned, into the adapter's cache (run once by `keypool conform`).
set -euo pipefail
cache="$1"
mkdir -p "$cache"
python3 -m venv "$cache/venv"
"$cache/venv/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==1.106.2" "mcp==2.3.0"
