#!/usr/bin/env bash
# zkinfer vs EZKL 23.0.5, same ONNX models and inputs, one run: see README.md.
# Not part of the tests. Needs Python 3 with venv and network access to PyPI
# the first time (EZKL, numpy, onnx, onnxruntime, scikit-learn go to
# target/compare/venv).
#
#   bash benches/compare/run.sh                      # all models
#   COMPARE_MODELS="mlp_digits lenet_digits" bash benches/compare/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out="$root/target/compare"
mkdir -p "$out"

if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv "$out/venv"
fi
"$out/venv/bin/pip" install -q --disable-pip-version-check \
    ezkl==23.0.5 numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 scikit-learn==1.9.1 matplotlib==3.10.8

echo "== building zkinfer and evm-gas (release); solc-js for the verifiers" >&2
cargo build --release -q -p zkinfer-prover -p zkinfer-benches --bin zkinfer --bin evm-gas
(cd contracts && npm ci --no-audit --no-fund --loglevel=error)

echo "== lenet_digits (LeNet-5-sized CNN on digits upsampled to 28x28)" >&2
if [ ! -s "$out/models/lenet_digits/model.onnx" ]; then
    "$out/venv/bin/python" benches/compare/make_lenet.py "$out/models/lenet_digits"
fi

models=${COMPARE_MODELS:-"mlp_digits cnn_digits cnn_medium lenet_digits"}
dirs=()
for m in $models; do
    if [ -d "fixtures/models/$m" ]; then dirs+=("fixtures/models/$m"); else dirs+=("$out/models/$m"); fi
done
COMPARE_EVM_GAS="$root/target/release/evm-gas" \
    "$out/venv/bin/python" benches/compare/compare.py "$root/target/release/zkinfer" "${COMPARE_OUT:-$out/run}" "${dirs[@]}"
echo "(also in $out/run/results.md and results.json)" >&2
