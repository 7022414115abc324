"""zkinfer vs EZKL on the same ONNX models and inputs, one run, one machine.

    python compare.py ZKINFER_BIN WORK_DIR MODEL_DIR...
    python compare.py --plot WORK_DIR/results.json OUT.png   # redraw a run's picture

Each MODEL_DIR holds model.onnx, calibration.json, input.json and test.json
(the fixtures' format: EZKL's one list per input, or one list per sample for a
one-input model). Both tools get the same files in EZKL's form (one list per
model input, the samples concatenated in each), so EZKL calibrates on every
calibration sample, not only on the first. Every step of both pipelines runs in its own process
under /usr/bin/time (wall time, peak RSS). Prints a table per model and
writes WORK_DIR/results.json, WORK_DIR/results.md and WORK_DIR/results.png
(proving time, memory, proof size and gas per model, both tools side by side).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = int(os.environ.get("COMPARE_TEST_ROWS", "100"))
# COMPARE_REUSE=1: a step whose log and timing a previous run left complete is not run
# again (its recorded time and memory are reported), so that an interrupted comparison
# resumes. The figures then come from more than one run: say so where they are quoted.
REUSE = os.environ.get("COMPARE_REUSE") == "1"


class StepFailed(Exception):
    """A step's process exited with an error: the message has the command and the log's
    tail; `step` is the log's name (e.g. "settings")."""

    def __init__(self, msg, log):
        super().__init__(msg)
        self.step = os.path.basename(log).removesuffix(".log")


def timed(cmd, log):
    """Runs cmd; returns (seconds, peak RSS in MiB). Raises StepFailed with the log's tail."""
    tf = log + ".time"
    if REUSE and os.path.exists(tf) and len(open(tf).read().split()) >= 2:
        print(f"   reusing {os.path.basename(log)}", file=sys.stderr, flush=True)
        secs, kb = open(tf).read().split()[-2:]
        return float(secs), int(kb) / 1024.0
    with open(log, "w") as out:
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf] + cmd, stdout=out, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise StepFailed(f"failed ({r.returncode}): {' '.join(cmd)}\n--- {log}:\n" + open(log).read()[-3000:], log)
    secs, kb = open(tf).read().split()[-2:]
    return float(secs), int(kb) / 1024.0


def model_inputs(model):
    """The ONNX model's inputs: (name, shape with symbolic dims fixed to 1), in order."""
    import onnxruntime as ort

    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [(i.name, [d if isinstance(d, int) else 1 for d in i.shape]) for i in s.get_inputs()]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def samples(data, specs):
    """A data file's samples, each a list with one flat list per input (as zkinfer's
    Dataset::samples reads the file: EZKL's form, or one list per sample for one input)."""
    lists = data["input_data"]
    if len(specs) == 1 and len(lists) > 1:
        return [[r] for r in lists]
    assert len(lists) == len(specs), f"{len(lists)} lists for {len(specs)} inputs"
    n = [numel(s) for _, s in specs]
    k = len(lists[0]) // n[0]
    return [[l[j * m:(j + 1) * m] for l, m in zip(lists, n)] for j in range(k)]


def ezkl_form(ss, labels=None):
    """Samples in EZKL's form: one list per input, the samples concatenated."""
    d = {"input_data": [sum((s[i] for s in ss), []) for i in range(len(ss[0]))]}
    if labels is not None:
        d["labels"] = labels
    return d


def float_predictions(model, ss):
    """onnxruntime's argmax of the first output, per sample (the value itself where the
    output is one integer: a model whose output is an ArgMax index)."""
    import numpy as np
    import onnxruntime as ort

    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    specs = model_inputs(model)
    # Token ids and masks are integer inputs (the data files hold them as numbers).
    types = [np.int64 if i.type == "tensor(int64)" else np.int32 if i.type == "tensor(int32)" else np.float32 for i in s.get_inputs()]
    preds = []
    for x in ss:
        feed = {name: np.array(v, dtype=t).reshape(shape) for (name, shape), t, v in zip(specs, types, x)}
        out = s.run(None, feed)[0]
        preds.append(int(out.reshape(-1)[0]) if out.size == 1 and np.issubdtype(out.dtype, np.integer) else int(np.argmax(out)))
    return preds


def evm_gas_of_zkinfer(log):
    """Gas of `zkinfer evm verify` (embedded revm, transaction total) and the runtime sizes."""
    import re

    text = open(log).read()
    m = re.search(r"(\d+) gas \(transaction total, (\d+) B calldata\); deployment (\d+) gas \((\d+) contracts\)", text)
    if not m:
        sys.exit(f"no gas figure in {log}:\n{text}")
    return {"verify_gas": int(m.group(1)), "calldata_bytes": int(m.group(2)), "deploy_gas": int(m.group(3)), "contracts": int(m.group(4))}


def evm_gas_of_ezkl(e):
    """EZKL's Solidity verifier compiled with solc-js (contracts/'s pinned one) and run in the same revm."""
    tool = os.environ.get("COMPARE_EVM_GAS")
    if not tool:
        return None
    sol = open(os.path.join(e, "verifier.sol")).read()
    r = subprocess.run(["node", os.path.join(HERE, "compile_sol.cjs"), "Halo2Verifier"], input=sol, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("solc-js failed on EZKL's verifier:\n" + r.stderr[-3000:])
    compiled = json.loads(r.stdout)
    open(os.path.join(e, "verifier.bin"), "w").write(compiled["bytecode"])
    r = subprocess.run([tool, os.path.join(e, "verifier.bin"), os.path.join(e, "calldata.bin")], capture_output=True, text=True)
    if r.returncode != 0 and "CreateContractSizeLimit" in r.stderr:
        # A result, not a failure of the comparison: EZKL's one-contract verifier of this
        # model cannot be deployed on a chain with EIP-170's 24,576-byte limit.
        return {"error": f"does not deploy (EIP-170: {compiled['runtime_bytes']:.0f} B of runtime)"}
    if r.returncode != 0:
        sys.exit("evm-gas failed on EZKL's verifier:\n" + r.stderr[-3000:])
    g = json.loads(r.stdout)
    if not (g["accepted"] and g["tampered_rejected"]):
        sys.exit(f"EZKL's verifier did not behave: {g}")
    g["contracts"] = 1
    g["compiler"] = compiled["compiler"]
    return g


def run_model(zk, work, mdir):
    name = os.path.basename(os.path.normpath(mdir))
    w = os.path.join(work, name)
    os.makedirs(w, exist_ok=True)
    f = lambda n: os.path.join(mdir, n)
    specs = model_inputs(f("model.onnx"))
    rows = samples(json.load(open(f("test.json"))), specs)[:ROWS]
    subset = os.path.join(w, "test_subset.json")
    json.dump(ezkl_form(rows), open(subset, "w"))
    # Each sample on its own, for EZKL's per-sample witnesses.
    per_sample = os.path.join(w, "test_samples.json")
    json.dump({"samples": rows}, open(per_sample, "w"))
    calib = os.path.join(w, "calibration.json")
    json.dump(ezkl_form(samples(json.load(open(f("calibration.json"))), specs)), open(calib, "w"))
    floats = float_predictions(f("model.onnx"), rows)
    res = {"model": name, "rows": len(rows)}

    # zkinfer: compile, SRS (dev), setup, prove, verify.
    z = os.path.join(w, "zk")
    zsteps = {}
    zsteps["compile"] = timed([zk, "compile", f("model.onnx"), "--calibration", calib, "-o", z], z + "-compile.log")
    k = json.load(open(os.path.join(z, "report.json")))["k"]
    zsteps["srs"] = timed([zk, "srs", "dev", "--k", str(k), "-o", z + ".srs"], z + "-srs.log")
    zsteps["setup"] = timed([zk, "setup", z, "--srs", z + ".srs"], z + "-setup.log")
    zsteps["prove"] = timed([zk, "prove", z, "--input", f("input.json"), "-o", z + "-proof.json"], z + "-prove.log")
    zsteps["verify"] = timed([zk, "verify", z, z + "-proof.json"], z + "-verify.log")
    timed([zk, "evm", "export", z], z + "-evm-export.log")
    timed([zk, "evm", "verify", z, z + "-proof.json"], z + "-evm-verify.log")
    zgas = evm_gas_of_zkinfer(z + "-evm-verify.log")
    timed([zk, "eval", z, "--dataset", subset, "--json"], z + "-eval.log")
    ev = json.loads(open(z + "-eval.log").read()[open(z + "-eval.log").read().index("{"):])
    proof = json.load(open(z + "-proof.json"))
    res["zkinfer"] = {
        "k": k,
        "steps": zsteps,
        "prove_internal_s": proof["timings_ms"].get("prove", 0) / 1e3 if isinstance(proof.get("timings_ms"), dict) else None,
        "proof_bytes": (len(proof["proof"]) - 2) // 2,
        "argmax_agreement": ev["argmax_agreement"],
        "evm": zgas,
    }

    try:
        res["ezkl"] = run_ezkl(w, f, rows, floats, per_sample, calib)
    except StepFailed as err:
        # A result, not a failure of the comparison: EZKL cannot prove this model. The
        # row says at which step and with which message (the log's last error line).
        step = err.step
        lines = [l for l in str(err).splitlines() if l.strip()]
        why = next((l for l in reversed(lines) if "rror" in l or "ailed" in l), lines[-1] if lines else "?")
        res["ezkl"] = {"failed": True, "step": step, "error": why.strip()[:300]}
        print(f"   EZKL failed at {step}: {why.strip()[:300]}", file=sys.stderr, flush=True)
    return res


def run_ezkl(w, f, rows, floats, per_sample, calib):
    """EZKL: settings + calibration, compile, SRS, setup, witness, prove, verify."""
    e = os.path.join(w, "ezkl")
    os.makedirs(e, exist_ok=True)
    step = lambda s, data: [sys.executable, os.path.join(HERE, "ezkl_step.py"), s, e, f("model.onnx"), data]
    esteps = {}
    esteps["settings"] = timed(step("settings", calib), e + "/settings.log")
    esteps["compile"] = timed(step("compile", ""), e + "/compile.log")
    esteps["srs"] = timed(step("srs", ""), e + "/srs.log")
    esteps["setup"] = timed(step("setup", ""), e + "/setup.log")
    esteps["witness"] = timed(step("witness", f("input.json")), e + "/witness.log")
    esteps["prove"] = timed(step("prove", ""), e + "/prove.log")
    esteps["verify"] = timed(step("verify", ""), e + "/verify.log")
    timed(step("evm", ""), e + "/evm.log")
    egas = evm_gas_of_ezkl(e)
    timed(step("outputs", per_sample), e + "/outputs.log")
    preds = json.load(open(os.path.join(e, "predictions.json")))
    eproof = json.load(open(os.path.join(e, "proof.json")))
    settings = json.load(open(os.path.join(e, "settings.json")))
    return {
        "k": settings["run_args"]["logrows"],
        "steps": esteps,
        "proof_bytes": (len(eproof["hex_proof"]) - 2) // 2,
        "argmax_agreement": sum(int(a == b) for a, b in zip(preds, floats)) / len(rows),
        "evm": egas,
    }


def failed_row(r):
    """The table of a model EZKL could not prove: zkinfer's figures and EZKL's error."""
    z, e = r["zkinfer"], r["ezkl"]
    zs = z["steps"]
    return [
        f"### {r['model']} ({r['rows']} test rows for agreement)",
        "",
        f"**EZKL 23.0.5 fails at its `{e['step']}` step**: `{e['error']}`",
        "",
        "| | zkinfer |",
        "|---|---|",
        f"| k (log2 rows) | {z['k']} |",
        f"| setup (keygen) s | {zs['setup'][0]:.2f} |",
        f"| proving s | {zs['prove'][0]:.2f} |",
        f"| verifying s | {zs['verify'][0]:.2f} |",
        f"| peak RSS of proving MiB | {zs['prove'][1]:.0f} |",
        f"| proof bytes | {z['proof_bytes']} |",
        f"| EVM verification gas (revm, tx total) | {z['evm']['verify_gas']} |",
        f"| verifier deployment gas (contracts) | {z['evm']['deploy_gas']} ({z['evm']['contracts']}) |",
        f"| argmax agreement with float | {z['argmax_agreement']:.3f} |",
        "",
    ]


def table(results):
    lines = []
    for r in results:
        if r["ezkl"].get("failed"):
            lines += failed_row(r)
            continue
        z, e = r["zkinfer"], r["ezkl"]
        zs, es = z["steps"], e["steps"]
        zpeak = max(v[1] for v in zs.values())
        epeak = max(v[1] for v in es.values())
        ratio = lambda a, b: f"{a / b:.3f}" if b else "-"
        ev = e.get("evm") or {}
        eg = ev if "verify_gas" in ev else None
        egas = lambda key: eg[key] if eg else ev.get("error", "-")
        lines += [
            f"### {r['model']} ({r['rows']} test rows for agreement)",
            "",
            "| | zkinfer | EZKL 23.0.5 | zkinfer / EZKL |",
            "|---|---|---|---|",
            f"| k (log2 rows) | {z['k']} | {e['k']} | |",
            f"| setup (keygen) s | {zs['setup'][0]:.2f} | {es['setup'][0]:.2f} | {ratio(zs['setup'][0], es['setup'][0])} |",
            f"| proving s (witness incl.) | {zs['prove'][0]:.2f} | {es['prove'][0] + es['witness'][0]:.2f} | {ratio(zs['prove'][0], es['prove'][0] + es['witness'][0])} |",
            f"| verifying s | {zs['verify'][0]:.2f} | {es['verify'][0]:.2f} | {ratio(zs['verify'][0], es['verify'][0])} |",
            f"| peak RSS of proving MiB | {zs['prove'][1]:.0f} | {max(es['prove'][1], es['witness'][1]):.0f} | {ratio(zs['prove'][1], max(es['prove'][1], es['witness'][1]))} |",
            f"| peak RSS of any step MiB | {zpeak:.0f} | {epeak:.0f} | {ratio(zpeak, epeak)} |",
            f"| proof bytes | {z['proof_bytes']} | {e['proof_bytes']} | {ratio(z['proof_bytes'], e['proof_bytes'])} |",
            f"| EVM verification gas (revm, tx total) | {z['evm']['verify_gas']} | {egas('verify_gas')} | {ratio(z['evm']['verify_gas'], eg['verify_gas']) if eg else '-'} |",
            f"| calldata bytes | {z['evm']['calldata_bytes']} | {eg['calldata_bytes'] if eg else '-'} | |",
            f"| verifier deployment gas (contracts) | {z['evm']['deploy_gas']} ({z['evm']['contracts']}) | {str(eg['deploy_gas']) + ' (1)' if eg else '-'} | |",
            f"| argmax agreement with float | {z['argmax_agreement']:.3f} | {e['argmax_agreement']:.3f} | |",
            "",
        ]
    return "\n".join(lines)


def plot(results, out):
    """results as a PNG: proving time, peak proving memory, proof size and EVM verification
    gas per model, zkinfer beside EZKL (log scale where the two differ by orders)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in results if not r["ezkl"].get("failed")]
    if not results:
        return
    names = [r["model"] for r in results]
    z_prove = [r["zkinfer"]["steps"]["prove"][0] for r in results]
    e_prove = [r["ezkl"]["steps"]["prove"][0] + r["ezkl"]["steps"]["witness"][0] for r in results]
    z_mem = [r["zkinfer"]["steps"]["prove"][1] for r in results]
    e_mem = [max(r["ezkl"]["steps"]["prove"][1], r["ezkl"]["steps"]["witness"][1]) for r in results]
    z_size = [r["zkinfer"]["proof_bytes"] for r in results]
    e_size = [r["ezkl"]["proof_bytes"] for r in results]
    z_gas = [r["zkinfer"]["evm"]["verify_gas"] / 1e3 for r in results]
    e_gas = [((r["ezkl"].get("evm") or {}).get("verify_gas") or 0) / 1e3 for r in results]
    panels = [
        ("proving time (s, witness incl.)", z_prove, e_prove, True),
        ("peak RSS of proving (MiB)", z_mem, e_mem, True),
        ("proof size (bytes)", z_size, e_size, False),
        ("EVM verification gas (k, tx total; 0 = does not deploy)", z_gas, e_gas, False),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    x = range(len(names))
    w = 0.38
    for ax, (title, z, e, log) in zip(axes.flat, panels):
        ax.bar([i - w / 2 for i in x], z, w, label="zkinfer", color="#3b6fb6")
        ax.bar([i + w / 2 for i in x], e, w, label="EZKL 23.0.5", color="#d9822b")
        for i, (a, b) in enumerate(zip(z, e)):
            if b:
                ax.annotate(f"{a / b:.2f}x", (i, max(a, b)), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=15, fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle("zkinfer vs EZKL 23.0.5, same ONNX models and inputs, one run (ratios zkinfer / EZKL)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--plot":
        # Redraw a finished run's picture: compare.py --plot results.json OUT.png
        plot(json.load(open(sys.argv[2])), sys.argv[3])
        return
    zk, work, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    results = []
    for m in models:
        print(f"== {m}", file=sys.stderr, flush=True)
        try:
            results.append(run_model(zk, work, m))
        except StepFailed as err:
            sys.exit(f"zkinfer failed on {m}: {err}")
        json.dump(results, open(os.path.join(work, "results.json"), "w"), indent=1)
    md = table(results)
    open(os.path.join(work, "results.md"), "w").write(md + "\n")
    plot(results, os.path.join(work, "results.png"))
    print(md)


if __name__ == "__main__":
    main()
