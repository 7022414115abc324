#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test of the workspace.
# Runs on a fresh machine with only the Rust toolchain; installs nothing system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
