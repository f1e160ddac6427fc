#!/usr/bin/env bash
# Writes one seed per corpus fixture line: a 0 byte, then the JSON line (see keypool::fuzzing).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p seeds/classifier
n=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  n=$((n + 1))
  { printf '\0'; printf '%s' "$line"; } > "seeds/classifier/fixture-$(printf '%03d' "$n")"
done < ../tests/fixtures/dev.jsonl
echo "wrote $n seeds to fuzz/seeds/classifier"
