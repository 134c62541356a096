#!/usr/bin/env bash
# Builds the guest agent as a static binary and installs it as OUT_DIR/kata-agent.
# Quick when nothing changed (cargo's own up-to-date check; the copy is skipped when equal).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
export PATH="$HOME/.cargo/bin:$PATH"
target=x86_64-unknown-linux-gnu
command -v protoc >/dev/null || { echo "agent: protoc is missing (Debian: protobuf-compiler); run 'make setup'" >&2; exit 1; }
mkdir -p "$out"
# +crt-static links glibc statically (there is no musl target here). With --target, RUSTFLAGS
# does not apply to build scripts and proc macros, which must stay dynamic.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --locked --target "$target" --manifest-path "$here/Cargo.toml"
bin="$here/target/$target/release/kata-agent"
if ! cmp -s "$bin" "$out/kata-agent"; then
  install -m 0755 "$bin" "$out/kata-agent"
  echo "agent: $(stat -c %s "$out/kata-agent") bytes at $out/kata-agent" >&2
fi
