"""zkinfer from Python: compile an ONNX model, prove its outputs, verify the proofs
natively or in an EVM, and submit jobs to a prover node.

Every function runs the `zkinfer` command line's own code (no subprocess) and writes the
same files; it returns what those files hold as dicts. A failure raises `ZkinferError`
with the CLI's message, which names the stage, the op, node, tensor, shape or file at
fault. Input and dataset files are EZKL's JSON (one list per model input, several samples
concatenated in each), or NumPy `.npy`/`.npz`; see docs/python.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _native
from ._native import ZkinferError

__all__ = [
    "ZkinferError",
    "compile",
    "evaluate",
    "srs_dev",
    "srs_import",
    "setup",
    "prove",
    "verify",
    "evm_export",
    "evm_verify",
    "submit",
    "version",
]

PathLike = Union[str, "os.PathLike[str]"]


def _run(args: Sequence[Any]) -> bool:
    return _native.run([str(a) for a in args])


def _read_json(path: PathLike) -> Dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def version() -> str:
    """The zkinfer version of this build."""
    return _native.version()


def compile(
    model: PathLike,
    calibration: PathLike,
    out: PathLike,
    *,
    act_bits: Optional[int] = None,
    weight_bits: Optional[int] = None,
    headroom_bits: Optional[int] = None,
    table_bits: Optional[int] = None,
    input_shapes: Optional[List[List[int]]] = None,
    keep_softmax: bool = False,
    force: bool = False,
) -> Dict[str, Any]:
    """Quantizes the ONNX `model` on the `calibration` set into the directory `out`
    (`zkinfer compile`); returns its report (report.json: inputs, outputs, scales,
    calibration accuracy, the circuit's cost)."""
    args: List[Any] = ["compile", model, "--calibration", calibration, "-o", out]
    for flag, v in [("--act-bits", act_bits), ("--weight-bits", weight_bits),
                    ("--headroom-bits", headroom_bits), ("--table-bits", table_bits)]:
        if v is not None:
            args += [flag, v]
    for shape in input_shapes or []:
        args += ["--input-shape", ",".join(str(d) for d in shape)]
    if keep_softmax:
        args.append("--keep-softmax")
    if force:
        args.append("--force")
    _run(args)
    return _read_json(os.path.join(out, "report.json"))


def evaluate(dir: PathLike, dataset: PathLike) -> Dict[str, Any]:
    """Float vs quantized model of a compiled `dir` on `dataset` (`zkinfer eval --json`):
    samples, argmax agreement, accuracies (with labels), max and mean absolute error."""
    return json.loads(_native.evaluate_json(str(dir), str(dataset)))


def srs_dev(k: int, out: PathLike) -> None:
    """Writes an INSECURE development SRS of 2^k points (`zkinfer srs dev`): tests only."""
    _run(["srs", "dev", "--k", k, "-o", out])


def srs_import(ptau: PathLike, out: PathLike, k: Optional[int] = None) -> None:
    """Converts a snarkjs / Perpetual Powers of Tau `.ptau` file (`zkinfer srs import`)."""
    _run(["srs", "import", ptau, "-o", out] + (["--k", k] if k is not None else []))


def setup(dir: PathLike, srs: PathLike) -> Dict[str, Any]:
    """Generates the keys of a compiled `dir` (`zkinfer setup`); returns setup.json
    (model id, k, instance counts, circuit digest)."""
    _run(["setup", dir, "--srs", srs])
    return _read_json(os.path.join(dir, "setup.json"))


def prove(
    dir: PathLike,
    input: PathLike,
    out: PathLike,
    *,
    row: int = 0,
    binding: Optional[str] = None,
    job_id: Optional[str] = None,
    prover: Optional[str] = None,
) -> Dict[str, Any]:
    """Proves sample `row` of the `input` file (`zkinfer prove`); writes the proof file
    `out` and returns it (model id, input, output, prediction, instances, proof)."""
    args: List[Any] = ["prove", dir, "--input", input, "--row", row, "-o", out]
    if binding is not None:
        args += ["--binding", binding]
    if job_id is not None or prover is not None:
        args += ["--job-id", job_id, "--prover", prover]
    _run(args)
    return _read_json(out)


def verify(dir: PathLike, proof: PathLike) -> bool:
    """Checks a proof file against `dir` (`zkinfer verify`): True when valid, False when
    not (the reason is printed)."""
    return _run(["verify", dir, proof])


def evm_export(dir: PathLike) -> Dict[str, Any]:
    """Generates and compiles the Solidity verifier of a set-up `dir` (`zkinfer evm
    export`); returns verifier.json (sizes, compiler, calldata layout)."""
    _run(["evm", "export", dir])
    return _read_json(os.path.join(dir, "verifier.json"))


def evm_verify(dir: PathLike, proof: PathLike) -> bool:
    """Deploys `dir`'s exported verifier in an embedded EVM and runs the proof file
    through it (`zkinfer evm verify`): True when the contract accepts it."""
    return _run(["evm", "verify", dir, proof])


def submit(
    node: str,
    model: str,
    input: PathLike,
    *,
    row: int = 0,
    token: Optional[str] = None,
    ca_cert: Optional[PathLike] = None,
    binding: Optional[str] = None,
    idempotency_key: Optional[str] = None,
) -> Dict[str, Any]:
    """Submits sample `row` of `input` to a prover node (`zkinfer submit --wait`), waits
    for the proof and returns the proof file (the format `verify` reads)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "proof.json")
        args: List[Any] = ["submit", "--node", node, "--model", model, "--input", input, "--row", row,
                           "--wait", "-o", out]
        for flag, v in [("--token", token), ("--ca-cert", ca_cert), ("--binding", binding),
                        ("--idempotency-key", idempotency_key)]:
            if v is not None:
                args += [flag, v]
        _run(args)
        return _read_json(out)
