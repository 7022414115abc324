"""ONNX -> proof -> verification on chain, from Python, on the bundled two-input model.

    python python/examples/onnx_to_chain.py [WORK_DIR]

Compiles fixtures/models/two_input_digits (two inputs, two outputs; its files are in
EZKL's form), evaluates it on a NumPy dataset, makes an INSECURE dev SRS and the keys,
proves one test sample, verifies the proof natively, then exports the Solidity verifier
and runs the proof through it in an embedded EVM. Needs contracts/node_modules
(`cd contracts && npm ci`) for the Solidity compiler.
"""

import os
import sys
import tempfile

import zkinfer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURE = os.path.join(ROOT, "fixtures", "models", "two_input_digits")


def main(work):
    model_dir = os.path.join(work, "two_input_digits")
    report = zkinfer.compile(os.path.join(FIXTURE, "model.onnx"), os.path.join(FIXTURE, "calibration.json"), model_dir)
    print("inputs", [(t["name"], t["shape"]) for t in report["inputs"]], "outputs", [t["name"] for t in report["outputs"]])
    acc = zkinfer.evaluate(model_dir, os.path.join(ROOT, "fixtures", "npy", "two_input_digits_test.npz"))
    print(f"argmax agreement {acc['argmax_agreement']:.3f} on {acc['samples']} samples")

    srs = os.path.join(work, "dev.srs")
    zkinfer.srs_dev(report["k"], srs)
    setup = zkinfer.setup(model_dir, srs)
    print("model id", setup["model_id"])

    proof_path = os.path.join(work, "proof.json")
    proof = zkinfer.prove(model_dir, os.path.join(FIXTURE, "test.json"), proof_path, row=3)
    print("prediction", proof["prediction"], "with", len(proof["instances"]), "public instances")
    assert zkinfer.verify(model_dir, proof_path), "the proof did not verify"

    info = zkinfer.evm_export(model_dir)
    assert zkinfer.evm_verify(model_dir, proof_path), "the EVM verifier rejected the proof"
    print(f"verified on chain (embedded EVM): a verifier of {len(info['parts'])} contract(s), {info['unsplit_runtime_bytes']} bytes of runtime")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(sys.argv[1]))
    with tempfile.TemporaryDirectory() as d:
        sys.exit(main(d))
