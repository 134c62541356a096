#!/usr/bin/env bash
# The agent's checks: formatting, clippy with warnings as errors, unit tests.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --check
cargo clippy --quiet --locked --all-targets -- -D warnings
cargo test --quiet --locked
