//! MockProver over the bundled fixture models: the circuit accepts the
//! executor's witness, and rejects tampered instances and witnesses.

use std::path::Path;
use std::sync::Arc;

use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use zkinfer_circuits::{ModelCircuit, build_plan};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

fn fixture(model: &str, file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(model).join(file)
}

fn compile(name: &str) -> QModel {
    let m = import_onnx(&fixture(name, "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture(name, "calibration.json")).unwrap();
    calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0
}

fn circuit(q: &QModel, name: &str) -> (ModelCircuit, u32) {
    let input = Dataset::read(&fixture(name, "input.json")).unwrap();
    let x = q.quantize_input(&input.input_data[0]).unwrap();
    let trace = q.execute(&x.values).unwrap();
    let plan = build_plan(q, Some(&trace), 8).unwrap();
    // The circuit's outputs are the executor's, bit for bit.
    let outs: Vec<i128> = plan.outputs.iter().map(|&w| plan.value(w).unwrap()).collect();
    let want: Vec<i128> = trace.tensors[q.outputs[0]].iter().map(|&v| v as i128).collect();
    assert_eq!(outs, want);
    let k = plan.min_k();
    let shape = plan.shape();
    (ModelCircuit::new(Arc::new(plan), Some(Fr::from(12345)), shape), k)
}

#[test]
fn fixtures_satisfy_and_tampering_fails() {
    for name in ["mlp_digits", "cnn_digits"] {
        let q = compile(name);
        let (c, k) = circuit(&q, name);
        let inst = c.instances().unwrap();
        let (mac, lin, sel, func) = c.plan.row_counts();
        eprintln!("{name}: k={k} rows={} (mac {mac}, lin {lin}, sel {sel}, func {func})", c.plan.used_rows());
        MockProver::run(k, &c, vec![inst.clone()]).unwrap().assert_satisfied();

        // Tampered output instance.
        let mut bad = inst.clone();
        let out0 = c.plan.inputs.len();
        bad[out0] += Fr::from(1);
        assert!(MockProver::run(k, &c, vec![bad]).unwrap().verify().is_err(), "{name}: tampered output accepted");
        // Tampered input instance.
        let mut bad = inst.clone();
        bad[0] += Fr::from(1);
        assert!(MockProver::run(k, &c, vec![bad]).unwrap().verify().is_err(), "{name}: tampered input accepted");
        // Tampered binding instance.
        let mut bad = inst.clone();
        *bad.last_mut().unwrap() += Fr::from(1);
        assert!(MockProver::run(k, &c, vec![bad]).unwrap().verify().is_err(), "{name}: tampered binding accepted");
        // A wrong witness for an output wire, with instances to match: the gates must catch it.
        let mut plan = (*c.plan).clone();
        let w = plan.outputs[0];
        plan.values.as_mut().unwrap()[w] += 1;
        let c2 = ModelCircuit { plan: Arc::new(plan), ..c.clone() };
        let inst2 = c2.instances().unwrap();
        assert!(
            MockProver::run(k, &c2, vec![inst2]).unwrap().verify().is_err(),
            "{name}: wrong output witness accepted"
        );
    }
}

/// The transformer encoder fixture (attention, LayerNorm, GELU, Softmax in the middle):
/// the honest witness satisfies every constraint; a tampered output instance, and a wrong
/// output witness with instances to match, do not.
#[test]
fn transformer_fixture_satisfies_and_tampering_fails() {
    let name = "transformer_digits";
    let q = compile(name);
    let (c, k) = circuit(&q, name);
    let inst = c.instances().unwrap();
    MockProver::run(k, &c, vec![inst.clone()]).unwrap().assert_satisfied();
    let mut bad = inst;
    bad[c.plan.inputs.len() + 3] += Fr::from(1);
    assert!(MockProver::run(k, &c, vec![bad]).unwrap().verify().is_err(), "{name}: tampered output accepted");
    let mut plan = (*c.plan).clone();
    let w = plan.outputs[7];
    plan.values.as_mut().unwrap()[w] -= 1;
    let c2 = ModelCircuit { plan: Arc::new(plan), ..c.clone() };
    let inst2 = c2.instances().unwrap();
    assert!(MockProver::run(k, &c2, vec![inst2]).unwrap().verify().is_err(), "{name}: wrong output witness accepted");
}

/// The soundness lint passes on every fixture at every MAC width the planner considers
/// (build_plan runs it; here it is also timed against planning itself).
#[test]
fn soundness_lint_passes_on_every_fixture() {
    for name in
        ["mlp_digits", "cnn_digits", "cnn_medium", "transformer_digits", "charlm_licenses", "lstm_waves", "gru_waves"]
    {
        let q = compile(name);
        for &width in zkinfer_circuits::cost::WIDTH_CANDIDATES {
            let t = std::time::Instant::now();
            let plan = build_plan(&q, None, width).unwrap();
            let total = t.elapsed();
            let t = std::time::Instant::now();
            let report = zkinfer_circuits::soundness::check(&plan).unwrap();
            let lint = t.elapsed();
            assert_eq!(report.wires, plan.num_wires);
            eprintln!(
                "{name} width {width}: {} rows, {} wires, {} constraints, {} visits; plan+lint {:.1} ms, lint {:.1} ms",
                plan.rows.len(),
                report.wires,
                report.constraints,
                report.visits,
                total.as_secs_f64() * 1e3,
                lint.as_secs_f64() * 1e3
            );
        }
    }
}

/// The estimate from shapes alone agrees with the rows the plan really builds (it may only
/// overcount, and by little), and picks the same k on every fixture.
#[test]
fn estimate_matches_the_plan() {
    for name in [
        "mlp_digits",
        "cnn_digits",
        "cnn_medium",
        "resnet_digits",
        "mobilenet_digits",
        "squeezenet_digits",
        "transformer_digits",
        "charlm_licenses",
        "lstm_waves",
    ] {
        let q = compile(name);
        for &width in zkinfer_circuits::cost::WIDTH_CANDIDATES {
            for slots in 1..=2 {
                let e = zkinfer_circuits::cost::estimate_at(&q, width, slots);
                let plan = zkinfer_circuits::plan::build_plan_in(&q, None, width, slots).unwrap();
                let real = plan.used_rows() as u64;
                eprintln!(
                    "{name} width {width} slots {slots}: estimate {} rows, plan {real}; tables {} vs {}; k {} vs {}",
                    e.rows,
                    e.table_rows,
                    plan.table_rows(),
                    e.k,
                    plan.min_k()
                );
                assert!(e.rows >= real && e.rows as f64 <= real as f64 * 1.15, "{name}: estimate {} vs {real}", e.rows);
                assert_eq!(e.table_rows, plan.table_rows() as u64, "{name}: table rows at {slots} slots");
            }
        }
        let e = zkinfer_circuits::cost::estimate(&q).unwrap();
        let (c, k) = zkinfer_circuits::prove::shape_of(&q).unwrap();
        eprintln!("{name}: {} (planner: width {}, k {k})", e.summary(), c.shape.width);
        assert!(e.k == k || e.k == k + 1, "{name}: estimated k {} vs {k}", e.k);
    }
}

/// Before calibration the estimate is a lower bound (the sketch's function tables, all at
/// 2^table_bits entries, are left out): never above the circuit calibration yields, so
/// `compile` does not refuse a model for tables calibration will shrink (the LSTM's 120
/// tables counted at full size made k 23 and 89 GiB of a k 18 circuit).
#[test]
fn estimate_before_calibration_is_a_lower_bound() {
    for name in ["mlp_digits", "transformer_digits", "lstm_waves", "gru_waves"] {
        let m = import_onnx(&fixture(name, "model.onnx"), &ImportOptions::default()).unwrap();
        let sketch = zkinfer_quantize::calibrate::quantize(&m, &Default::default(), &QuantConfig::default()).unwrap().0;
        let before = zkinfer_circuits::cost::estimate_before_calibration(&sketch).unwrap();
        let q = compile(name);
        let after = zkinfer_circuits::cost::estimate(&q).unwrap();
        let (_, k) = zkinfer_circuits::prove::shape_of(&q).unwrap();
        eprintln!(
            "{name}: before calibration k {} ({:.2} GiB), after k {} ({:.2} GiB), circuit k {k}",
            before.k,
            before.memory_bytes as f64 / (1u64 << 30) as f64,
            after.k,
            after.memory_bytes as f64 / (1u64 << 30) as f64
        );
        assert!(before.k <= k && before.memory_bytes <= after.memory_bytes, "{name}: {before:?} vs {after:?}");
        assert!(after.k == k || after.k == k + 1, "{name}: estimated k {} vs {k}", after.k);
    }
}
