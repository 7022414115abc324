"""Writes ONNX's own node tests for the ops of sequence models into a directory, in the
layout of onnx/backend/test/data (model.onnx, test_data_set_0/input_j.pb, output_j.pb).

The onnx wheel ships the data of its model tests but not of its node tests; it ships the
node tests' generators (onnx.backend.test.case.node: the models and the expected outputs,
computed by the ONNX project's reference code), and this script only serializes them, as
onnx's own `backend-test-tools generate-data` does for the model tests. Used by
scripts/test.sh for circuits/tests/conformance.rs (ZKINFER_ONNX_NODE_TESTDATA).

usage: python onnx_node_data.py OUT_DIR
"""

import os
import shutil
import sys
import warnings

import onnx.backend.test.case.node as node_cases
from onnx import numpy_helper

# The op types whose node tests join the conformance suite: attention, normalisation,
# embeddings, their non-linearities and the wiring of sequence models (issue 20).
OPS = {
    "MatMul", "Einsum", "Softmax", "LogSoftmax", "LayerNormalization", "RMSNormalization",
    "InstanceNormalization", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Pow",
    "Tanh", "Sigmoid", "Gather", "Transpose", "Where", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "Not",
    "ArgMax", "ArgMin", "TopK", "Cast", "LSTM", "GRU", "RNN", "Split", "Concat", "Slice", "Unsqueeze", "Reshape",
}


def main(out: str) -> None:
    warnings.simplefilter("ignore")
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    written = 0
    for case in node_cases.collect_testcases():
        ops = {n.op_type for n in case.model.graph.node}
        if not ops & OPS or not ops <= OPS | {"Constant"}:
            continue
        d = os.path.join(out, case.name)
        os.makedirs(d)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        inputs, outputs = case.data_sets[0]
        s = os.path.join(d, "test_data_set_0")
        os.makedirs(s)
        for kind, values, infos in (("input", inputs, case.model.graph.input),
                                    ("output", outputs, case.model.graph.output)):
            for j, v in enumerate(values):
                with open(os.path.join(s, f"{kind}_{j}.pb"), "wb") as f:
                    if hasattr(v, "SerializeToString"):
                        f.write(v.SerializeToString())
                    else:
                        f.write(numpy_helper.from_array(v, infos[j].name).SerializeToString())
        written += 1
    print(f"{written} node tests written to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
