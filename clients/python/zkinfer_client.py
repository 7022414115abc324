"""A Python client of the zkinfer prover node (gRPC API zkinfer.v1).

The stubs are generated from ../../proto/zkinfer/v1/prover.proto with
grpcio-tools on first use (into ./_generated), so they always match the
node's API. Usable as a library (``Client``) or a command:

    python zkinfer_client.py --node 127.0.0.1:50051 [--token T] \
        --model ID_OR_NAME --input INPUT.json [--row N] [-o PROOF.json]

which submits a job, waits for its proof, checks that the proof's public
outputs are the outputs it reports, and writes the proof file
(`zkinfer verify DIR PROOF.json` checks the proof itself).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")
GENERATED = os.path.join(HERE, "_generated")
# BN254 scalar field modulus: negative numbers are r - |x| in the instances.
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def _stubs():
    proto = os.path.join(PROTO_ROOT, "zkinfer", "v1", "prover.proto")
    marker = os.path.join(GENERATED, "zkinfer", "v1", "prover_pb2_grpc.py")
    if not os.path.exists(marker) or os.path.getmtime(marker) < os.path.getmtime(proto):
        from grpc_tools import protoc
        import importlib.resources

        os.makedirs(GENERATED, exist_ok=True)
        include = str(importlib.resources.files("grpc_tools") / "_proto")
        rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={GENERATED}",
                          f"--grpc_python_out={GENERATED}", proto])
        if rc != 0:
            raise RuntimeError(f"protoc failed ({rc}) on {proto}")
    # Loaded from their files under the names protoc gave them (`zkinfer.v1.*`), without
    # importing a `zkinfer` package: the `zkinfer` Python package (python/) may be
    # installed, and its name must not hide the stubs (nor the stubs it).
    import importlib.util
    import types

    v1 = sys.modules.setdefault("zkinfer.v1", types.ModuleType("zkinfer.v1"))

    def load(name):
        spec = importlib.util.spec_from_file_location(
            f"zkinfer.v1.{name}", os.path.join(GENERATED, "zkinfer", "v1", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(v1, name, module)
        return module

    prover_pb2 = load("prover_pb2")
    prover_pb2_grpc = load("prover_pb2_grpc")
    return prover_pb2, prover_pb2_grpc


pb, pb_grpc = _stubs()


class Client:
    """A connection to one node."""

    def __init__(self, target, token=None, ca_cert=None):
        """`target` is host:port; with `ca_cert` (a PEM file) the connection
        uses TLS and checks the node's certificate against that CA."""
        import grpc

        if ca_cert:
            with open(ca_cert, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            self.channel = grpc.secure_channel(target, creds)
        else:
            self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.ProverServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {token}")] if token else []

    def models(self):
        return list(self.stub.ListModels(pb.ListModelsRequest(), metadata=self.metadata).models)

    def model(self, id_or_name):
        """The served model with this id or name (its inputs and outputs included)."""
        for m in self.models():
            if m.name == id_or_name or m.id.lower() == id_or_name.lower():
                return m
        raise LookupError(f"the node serves no model with the id or name {id_or_name!r}")

    def model_id(self, id_or_name):
        return self.model(id_or_name).id

    def submit(self, model_id, values, idempotency_key=""):
        req = pb.SubmitJobRequest(model_id=model_id, input=values, idempotency_key=idempotency_key)
        return self.stub.SubmitJob(req, metadata=self.metadata)

    def wait(self, job_id):
        """Follows WatchJob to the last state; returns the final Job."""
        last = None
        for job in self.stub.WatchJob(pb.WatchJobRequest(id=job_id), metadata=self.metadata):
            last = job
        return last

    def proof(self, job_id):
        return self.stub.GetProof(pb.GetProofRequest(id=job_id), metadata=self.metadata)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def sample(data, model, row):
    """Sample `row` of an input file as the node takes it: every input's values, concatenated
    in the model's input order. The file is in EZKL's form (one list per input, several samples
    concatenated in each) or, for a one-input model, one list per sample."""
    lists = data["input_data"]
    sizes = [numel(t.shape) for t in model.inputs] or [model.input_len]
    if len(sizes) == 1 and len(lists) > 1:
        return lists[row]
    if len(lists) != len(sizes):
        raise ValueError(f"input_data has {len(lists)} lists, the model has {len(sizes)} inputs")
    return [v for l, n in zip(lists, sizes) for v in l[row * n:(row + 1) * n]]


def check_outputs(proof, first_len=None):
    """The proof's output instances must be the reported outputs (field encoding), and the
    prediction the argmax of the first output (`first_len` values; all of them by default)."""
    n_out = len(proof.output)
    outs = proof.instances[-1 - n_out:-1]
    for i, (q, inst) in enumerate(zip(proof.output, outs)):
        want = q % R
        if int(inst, 16) != want:
            raise ValueError(f"output {i}: reported {q}, proven instance {inst}")
    first = first_len or n_out
    if proof.prediction != max(range(first), key=lambda i: proof.output[i]):
        raise ValueError("the prediction is not the argmax of the outputs")
    f = json.loads(proof.proof_file_json)
    if f["output"] != list(proof.output) or f["instances"] != list(proof.instances):
        raise ValueError("the proof file disagrees with the response")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--node", required=True, help="host:port")
    ap.add_argument("--token")
    ap.add_argument("--ca-cert", help="PEM CA certificate: connect over TLS and check the node against it")
    ap.add_argument("--model", required=True, help="model id (0x...) or name")
    ap.add_argument("--input", required=True, help='JSON file {"input_data": [[...]]}, one list per model input')
    ap.add_argument("--row", type=int, default=0, help="which sample of the file")
    ap.add_argument("--idempotency-key", default="")
    ap.add_argument("-o", "--out", help="write the proof file here")
    a = ap.parse_args()
    with open(a.input) as f:
        data = json.load(f)
    c = Client(a.node, a.token, a.ca_cert)
    model = c.model(a.model)
    values = sample(data, model, a.row)
    r = c.submit(model.id, values, a.idempotency_key)
    job = c.wait(r.job.id)
    state = pb.JobState.Name(job.state)
    if job.state != pb.JOB_STATE_PROVED:
        print(f"job {job.id} ended {state}: {job.error}", file=sys.stderr)
        return 1
    proof = c.proof(job.id)
    check_outputs(proof, numel(model.outputs[0].shape) if model.outputs else None)
    print(json.dumps({"job": job.id, "state": state, "prediction": proof.prediction,
                      "output": list(proof.output), "prove_ms": proof.prove_ms}))
    if a.out:
        with open(a.out, "w") as f:
            f.write(proof.proof_file_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
