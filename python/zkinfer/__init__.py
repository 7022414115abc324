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
import queue
import tempfile
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

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
    "submit_job",
    "watch",
    "get_proof",
    "jobs",
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


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def submit_job(
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
    """Submits sample `row` of `input` to a prover node and returns at once: the job
    (`id`, `model`, `state`, `error`, `binding`, ..., as `zkinfer jobs --json` prints it)
    and `deduplicated` (True when the node returned the job it made earlier for
    `idempotency_key`). Follow it with `watch`, then fetch the proof with `get_proof`."""
    return json.loads(_native.submit_job(node, model, os.fspath(input), row, token, _path(ca_cert), binding,
                                         idempotency_key))


def watch(node: str, job_id: str, *, token: Optional[str] = None,
          ca_cert: Optional[PathLike] = None) -> Iterator[Dict[str, Any]]:
    """Follows a job (`WatchJob`): yields the job now and then at every state change
    (`queued`, `proving`, `proved`, and for chain jobs `submitted`, `settled`; or
    `failed` with `error`, `cancelled`) until nothing more will happen to it. Leaving the
    loop early ends the stream at the node's next message."""
    updates: "queue.Queue[Any]" = queue.Queue()
    stop = threading.Event()

    def on_update(job: str) -> bool:
        updates.put(("job", json.loads(job)))
        return not stop.is_set()

    def follow() -> None:
        try:
            _native.watch_job(node, job_id, on_update, token, _path(ca_cert))
            updates.put(("end", None))
        except BaseException as e:  # re-raised in the caller's thread
            updates.put(("error", e))

    threading.Thread(target=follow, name=f"zkinfer-watch-{job_id[:12]}", daemon=True).start()
    try:
        while True:
            kind, value = updates.get()
            if kind == "job":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()


def get_proof(node: str, job_id: str, *, token: Optional[str] = None,
              ca_cert: Optional[PathLike] = None) -> Dict[str, Any]:
    """The proof of a proved job (`GetProof`): `output` (quantized), `output_float`,
    `prediction`, `instances`, `witness_ms`, `prove_ms` and `proof_file`, the object
    `verify` reads (write it with `json.dump` to get a proof file). Raises ZkinferError
    (FailedPrecondition) before the proof exists."""
    return json.loads(_native.get_proof(node, job_id, token, _path(ca_cert)))


def jobs(node: str, *, limit: int = 100, token: Optional[str] = None,
         ca_cert: Optional[PathLike] = None) -> List[Dict[str, Any]]:
    """The node's newest `limit` jobs, newest first (`zkinfer jobs --json`)."""
    return json.loads(_native.list_jobs(node, limit, token, _path(ca_cert)))
