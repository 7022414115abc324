"""The Python package against the real thing: every function on the bundled models, the
errors as exceptions with the CLI's messages, and the node client against a real
`zkinfer node` on loopback ($ZKINFER_BIN, which scripts/test.sh points at the test build)."""

import json
import os
import socket
import subprocess
import time

import pytest

import zkinfer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FX = os.path.join(ROOT, "fixtures")


def fixture(*p):
    return os.path.join(FX, *p)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """The mlp fixture compiled and set up (dev SRS)."""
    d = tmp_path_factory.mktemp("mlp")
    out = str(d / "mlp")
    report = zkinfer.compile(fixture("models", "mlp_digits", "model.onnx"), fixture("models", "mlp_digits", "calibration.json"), out)
    srs = str(d / "dev.srs")
    zkinfer.srs_dev(report["k"], srs)
    setup = zkinfer.setup(out, srs)
    return {"dir": out, "report": report, "setup": setup, "tmp": d}


def test_compile_evaluate_setup(mlp):
    r = mlp["report"]
    assert r["model"] == "mlp_digits" and r["inputs"][0]["shape"] == [1, 64] and r["k"] == 10
    acc = zkinfer.evaluate(mlp["dir"], fixture("models", "mlp_digits", "test.json"))
    assert acc["samples"] == 450 and acc["argmax_agreement"] >= 0.99
    npy = zkinfer.evaluate(mlp["dir"], fixture("npy", "mlp_digits_test.npy"))
    assert npy["samples"] == 50
    assert mlp["setup"]["model_id"].startswith("0x") and len(mlp["setup"]["model_id"]) == 66


def test_prove_verify_and_a_tampered_proof(mlp):
    p = str(mlp["tmp"] / "p.json")
    proof = zkinfer.prove(mlp["dir"], fixture("models", "mlp_digits", "test.json"), p, row=4)
    labels = json.load(open(fixture("models", "mlp_digits", "test.json")))["labels"]
    assert proof["prediction"] == labels[4]
    assert zkinfer.verify(mlp["dir"], p) is True
    bad = dict(proof, output=[v + 1 for v in proof["output"]])
    b = str(mlp["tmp"] / "bad.json")
    json.dump(bad, open(b, "w"))
    assert zkinfer.verify(mlp["dir"], b) is False


def test_evm_export_and_verify(mlp):
    p = str(mlp["tmp"] / "e.json")
    zkinfer.prove(mlp["dir"], fixture("models", "mlp_digits", "input.json"), p)
    info = zkinfer.evm_export(mlp["dir"])
    assert info["instances"] == 64 + 10 + 1 and info["parts"]
    assert zkinfer.evm_verify(mlp["dir"], p) is True


def test_errors_are_exceptions_with_the_cli_messages(tmp_path):
    with pytest.raises(zkinfer.ZkinferError, match=r"unsupported ONNX op `RandomNormalLike` at node `noise`"):
        zkinfer.compile(fixture("bad", "unsupported_random.onnx"), fixture("models", "mlp_digits", "calibration.json"), str(tmp_path / "x"))
    with pytest.raises(zkinfer.ZkinferError, match=r"/nonexistent/model.onnx"):
        zkinfer.compile("/nonexistent/model.onnx", fixture("models", "mlp_digits", "calibration.json"), str(tmp_path / "y"))
    with pytest.raises(zkinfer.ZkinferError, match=r"1 lists, the model has 2 inputs"):
        d = str(tmp_path / "two")
        zkinfer.compile(fixture("models", "two_input_digits", "model.onnx"), fixture("models", "mlp_digits", "input.json"), d)
    with pytest.raises(zkinfer.ZkinferError, match=r"act_bits 40"):
        zkinfer.compile(fixture("models", "mlp_digits", "model.onnx"), fixture("models", "mlp_digits", "calibration.json"), str(tmp_path / "z"), act_bits=40)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_node_client_against_a_real_node(mlp, tmp_path):
    binary = os.environ.get("ZKINFER_BIN")
    if not binary:
        pytest.skip("set ZKINFER_BIN to a zkinfer binary (scripts/test.sh does)")
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(mlp["dir"], models / "mlp")
    addr = f"127.0.0.1:{free_port()}"
    node = subprocess.Popen(
        [binary, "node", "--listen", addr, "--data-dir", str(tmp_path / "data"), "--models", str(models), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = node.stdout.readline()
        assert line.startswith("listening on"), line
        proof = zkinfer.submit(f"http://{addr}", "mlp", fixture("models", "mlp_digits", "test.json"), row=9)
        labels = json.load(open(fixture("models", "mlp_digits", "test.json")))["labels"]
        assert proof["prediction"] == labels[9]
        p = str(tmp_path / "node-proof.json")
        json.dump(proof, open(p, "w"))
        assert zkinfer.verify(mlp["dir"], p)
        with pytest.raises(zkinfer.ZkinferError, match=r"no model with the id or name `nope`"):
            zkinfer.submit(f"http://{addr}", "nope", fixture("models", "mlp_digits", "input.json"))

        # Submit without waiting, follow the job's states, fetch its proof, list the jobs.
        url = f"http://{addr}"
        job = zkinfer.submit_job(url, "mlp", fixture("models", "mlp_digits", "test.json"), row=4,
                                 idempotency_key="py-client-1")
        assert job["state"] in ("queued", "proving", "proved") and not job["deduplicated"]
        states = [j["state"] for j in zkinfer.watch(url, job["id"])]
        assert states[-1] == "proved", states
        assert states == sorted(set(states), key=states.index), states  # each state once, in order
        got = zkinfer.get_proof(url, job["id"])
        assert got["job_id"] == job["id"] and got["prediction"] == labels[4]
        assert len(got["output_float"]) == 10 and got["prove_ms"] > 0
        p4 = str(tmp_path / "node-proof-4.json")
        json.dump(got["proof_file"], open(p4, "w"))
        assert zkinfer.verify(mlp["dir"], p4)
        again = zkinfer.submit_job(url, "mlp", fixture("models", "mlp_digits", "test.json"), row=4,
                                   idempotency_key="py-client-1")
        assert again["id"] == job["id"] and again["deduplicated"]
        listed = zkinfer.jobs(url, limit=10)
        assert job["id"] in [j["id"] for j in listed] and len(listed) == 2
        with pytest.raises(zkinfer.ZkinferError, match=r"NotFound"):
            list(zkinfer.watch(url, "0x" + "00" * 32))
        with pytest.raises(zkinfer.ZkinferError, match=r"connecting to http://127.0.0.1:1"):
            zkinfer.jobs("http://127.0.0.1:1")
    finally:
        node.terminate()
        node.wait(timeout=30)
