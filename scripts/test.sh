#!/usr/bin/env bash
# The project's test command: formatting, lints, test fixtures made with npm tools, then
# every test of the workspace. Runs on a fresh machine with the Rust toolchain, Node.js
# (npm) and Python 3 (venv); installs nothing system-wide (npm packages go to
# tools/node_modules and contracts/node_modules, Python packages to target/pyenv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors; with the CUDA backend compiled in, which needs no CUDA)"
cargo clippy --workspace --all-targets --locked --features zkinfer-gpu/cuda,zkinfer-benches/cuda -- -D warnings

echo "== contracts: pinned solc-js, OpenZeppelin and anvil (npm), artifacts match the sources"
(cd contracts && npm ci --no-audit --no-fund --loglevel=error && node compile.cjs --check)
export ZKINFER_REQUIRE_ANVIL=1

echo "== Python client: a virtualenv with grpcio (clients/python/requirements.txt)"
if [ ! -x target/pyenv/bin/python ]; then
    python3 -m venv target/pyenv
fi
target/pyenv/bin/pip install -q --disable-pip-version-check -r clients/python/requirements.txt
export ZKINFER_PYTHON="$root/target/pyenv/bin/python" ZKINFER_REQUIRE_PYTHON=1

echo "== ONNX's backend test data (the onnx package) for the conformance test"
target/pyenv/bin/pip install -q --disable-pip-version-check -r circuits/tests/conformance-requirements.txt
ZKINFER_ONNX_TESTDATA=$(target/pyenv/bin/python -c \
    'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))')
# The node tests of the ops of sequence models: the package ships their generators, not their data.
target/pyenv/bin/python circuits/tests/onnx_node_data.py "$root/target/onnx-node"
export ZKINFER_ONNX_NODE_TESTDATA="$root/target/onnx-node"
export ZKINFER_ONNX_TESTDATA ZKINFER_REQUIRE_ONNX=1

echo "== npm tools (snarkjs) and a small .ptau made by snarkjs"
(cd tools && npm ci --no-audit --no-fund --loglevel=error)
fx="$root/target/test-fixtures"
mkdir -p "$fx"
if [ ! -s "$fx/pot10.ptau" ]; then
    (cd tools &&
        npx --no-install snarkjs powersoftau new bn128 10 "$fx/pot10_0.ptau" >/dev/null &&
        npx --no-install snarkjs powersoftau contribute "$fx/pot10_0.ptau" "$fx/pot10.ptau.tmp" \
            --name=zkinfer-test -e="zkinfer test entropy $(date +%s%N)" >/dev/null)
    mv "$fx/pot10.ptau.tmp" "$fx/pot10.ptau"
    rm -f "$fx/pot10_0.ptau"
fi
node tools/ptau-points.cjs "$fx/pot10.ptau" 1024 >"$fx/pot10.points.json"
export ZKINFER_TEST_PTAU="$fx/pot10.ptau"

echo "== cargo test"
# The full-disk fault test mounts a small tmpfs in a private mount namespace (unshare -rm).
export ZKINFER_REQUIRE_TMPFS=1
cargo test --workspace --locked

echo "== Python package: pip install ./python (maturin, in the test build's profile), pytest, the example"
# The package builds with the `dev` profile (python/pyproject.toml) in this workspace's
# target dir, so it reuses what `cargo test` just built: about a minute, not a release build.
target/pyenv/bin/pip install -q --disable-pip-version-check -r python/requirements-test.txt
target/pyenv/bin/pip install -q --disable-pip-version-check ./python
ZKINFER_BIN="$root/target/debug/zkinfer" target/pyenv/bin/python -m pytest -q python/tests
target/pyenv/bin/python python/examples/onnx_to_chain.py

echo "== docs: every command of the README and the guides, as written (scripts/docs-run.py)"
# Each guide's ```sh/```python blocks in one shell session, in a scratch copy of the
# checkout (target/docs-run/), `target/release/zkinfer` being the test build's binary.
python3 scripts/docs-run.py --bin "$root/target/debug/zkinfer"
