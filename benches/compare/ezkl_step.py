"""One step of EZKL's pipeline, run in its own process so that its time and
peak memory can be measured alone (by /usr/bin/time in compare.py).

    python ezkl_step.py STEP WORKDIR MODEL.onnx DATA.json
"""

import json
import os
import sys

import ezkl


def main(step, work, model, data):
    p = lambda name: os.path.join(work, name)
    if step == "settings":
        # Default run arguments (public inputs and outputs, fixed parameters:
        # the same visibility as zkinfer), then EZKL's calibration for resources.
        assert ezkl.gen_settings(model, p("settings.json"), ezkl.PyRunArgs())
        assert ezkl.calibrate_settings(data, model, p("settings.json"), "resources")
    elif step == "compile":
        assert ezkl.compile_circuit(model, p("model.compiled"), p("settings.json"))
    elif step == "srs":
        k = json.load(open(p("settings.json")))["run_args"]["logrows"]
        ezkl.gen_srs(p("kzg.srs"), k)
    elif step == "setup":
        assert ezkl.setup(p("model.compiled"), p("vk.key"), p("pk.key"), p("kzg.srs"))
    elif step == "witness":
        ezkl.gen_witness(data, p("model.compiled"), p("witness.json"))
    elif step == "prove":
        assert ezkl.prove(p("witness.json"), p("model.compiled"), p("pk.key"), p("proof.json"), p("kzg.srs"))
    elif step == "verify":
        assert ezkl.verify(p("proof.json"), p("settings.json"), p("vk.key"), p("kzg.srs"))
    elif step == "evm":
        # EZKL writes its Solidity verifier, then fetches a native solc from the
        # internet to make the ABI, which fails offline. The Solidity is all we
        # need: compare.py compiles it with solc-js and runs it in revm.
        import asyncio

        sol = p("verifier.sol")
        async def create():
            # Called inside a running event loop (EZKL makes its future on call).
            await ezkl.create_evm_verifier(p("vk.key"), p("settings.json"), sol, p("verifier.abi"), p("kzg.srs"))

        try:
            asyncio.run(create())
        except Exception as e:  # noqa: BLE001 - reported, and the .sol is checked below
            print(f"create_evm_verifier: {e}")
        if not (os.path.exists(sol) and os.path.getsize(sol) > 0):
            raise SystemExit("EZKL wrote no Solidity verifier")
        ezkl.encode_evm_calldata(p("proof.json"), p("calldata.bin"))
    elif step == "outputs":
        # Argmax of EZKL's (dequantized) first output for every sample of DATA.json
        # ({"samples": [[input 0 values, input 1 values, ...], ...]}), one witness each.
        rows = json.load(open(data))["samples"]
        preds = []
        for r in rows:
            json.dump({"input_data": r}, open(p("row.json"), "w"))
            ezkl.gen_witness(p("row.json"), p("model.compiled"), p("row_witness.json"))
            out = json.load(open(p("row_witness.json")))["pretty_elements"]["rescaled_outputs"][0]
            vals = [float(v) for v in out]
            # One value: an index output (ArgMax as the model's output), read as is.
            preds.append(round(vals[0]) if len(vals) == 1 else max(range(len(vals)), key=lambda i: vals[i]))
        json.dump(preds, open(p("predictions.json"), "w"))
    else:
        raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
    # EZKL 23's native runtime can crash while the interpreter tears it down after a step
    # that succeeded (SIGSEGV after create_evm_verifier on resnet_digits, its files all
    # written): a finished step exits here, without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
