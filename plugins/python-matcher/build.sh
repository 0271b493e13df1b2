#!/usr/bin/env bash
# Builds python_matcher.wasm with componentize-py (pinned), into the plugins' target directory like the Rust examples.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check 'componentize-py==0.25.1'
out="${CARGO_TARGET_DIR:-../target}/wasm32-wasip2/release"
mkdir -p "$out"
componentize-py -d ../../plugin-sdk/wit -w matcher componentize app -o "$out/python_matcher.wasm"
