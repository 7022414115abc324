//! Circuits of models with several inputs and outputs (and an integer input): the instance
//! column is every input's values, then every output's, then the binding. Each region
//! is bound: a changed instance in any of them is rejected, a forged value of the second
//! input (huge, or aliased as p − x) is rejected by its range check, and a real proof
//! verifies and rejects a tampered second output.

use zkinfer_testkit::onnx as common;

use std::sync::Arc;

use common::{Attr, Graph, Lcg};
use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use zkinfer_circuits::forge::Forgery;
use zkinfer_circuits::plan::Row;
use zkinfer_circuits::{ModelCircuit, build_plan};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// `a` [1,5] float, `ids` [1,3] int64 → `y1 = a·W` [1,3] + Cast(ids), `y2 = relu(a)` [1,5].
fn model() -> (QModel, Vec<f64>) {
    let mut g = Graph::new(&[1, 5], 21);
    g.input.0 = "a".into();
    g.add_input("ids", &[1, 3], 7);
    let w = g.rand_init("w", &[5, 3], 0.7);
    let mm = g.node("MatMul", "mm", &["a", &w], vec![]);
    let f = g.node("Cast", "f", &["ids"], vec![("to", Attr::I(1))]);
    let y1 = g.node("Add", "y1", &[&mm, &f], vec![]);
    g.node("Relu", "y2", &["a"], vec![]);
    g.add_output(&y1);
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let mut rng = Lcg(4);
    let a: Vec<f64> = rng.vec(5 * 8, 1.5).into_iter().map(f64::from).collect();
    let ids: Vec<f64> = (0..3 * 8).map(|i| (i * 7 % 11) as f64).collect();
    let (q, _) =
        calibrate_and_quantize(&model, &Dataset::new(vec![a, ids], None), &QuantConfig::default(), || {}).unwrap();
    let x = vec![0.4, -1.1, 0.7, 0.0, 1.2, 3.0, 9.0, 1.0];
    (q, x)
}

fn circuit(q: &QModel, x: &[f64]) -> (ModelCircuit, u32) {
    let trace = q.execute(&q.quantize_input(x).unwrap().values).unwrap();
    let plan = build_plan(q, Some(&trace), 6).unwrap();
    assert_eq!((plan.inputs.len(), plan.outputs.len()), (8, 8));
    let k = plan.min_k();
    let shape = plan.shape();
    (ModelCircuit::new(Arc::new(plan), Some(Fr::from(5)), shape), k)
}

#[test]
fn every_instance_region_is_bound() {
    let (q, x) = model();
    let (c, k) = circuit(&q, &x);
    let inst = c.instances().unwrap();
    assert_eq!(inst.len(), 8 + 8 + 1);
    // inputs: a (0..5), ids (5..8); outputs: y1 (8..11), y2 (11..16); binding 16.
    assert_eq!(inst[5..8], [Fr::from(3), Fr::from(9), Fr::from(1)]);
    MockProver::run(k, &c, vec![inst.clone()]).unwrap().assert_satisfied();
    for (i, region) in [(0, "a"), (6, "ids"), (9, "y1"), (13, "y2"), (16, "binding")] {
        let mut bad = inst.clone();
        bad[i] += Fr::from(1);
        let r = MockProver::run(k, &c, vec![bad]).unwrap().verify();
        assert!(r.is_err(), "instance {i} ({region}) changed by one was accepted");
    }
}

#[test]
fn a_forged_second_input_is_rejected() {
    let (q, x) = model();
    let (c, k) = circuit(&q, &x);
    let ids0 = c.plan.inputs[5];
    // The input's range check: the first row, a `Lin` row reading the wire.
    let range_row = c
        .plan
        .rows
        .iter()
        .position(|r| matches!(r, Row::Lin { a, .. } if a.contains(&Some(ids0))))
        .expect("the input is range-checked");
    // Claimed as the public input (the instance is taken from the forged wire): a huge value,
    // or -x aliased as p − x beyond the activation range, fails the input's own range check
    // (whatever the downstream rows say).
    for v in [Fr::from(1u64 << 40), -Fr::from(1u64 << 20), Fr::from(3) - Fr::from(1u64 << 16)] {
        let mut f = Forgery::honest(&c.plan).unwrap();
        f.set(ids0, v);
        let forged = c.forged(f);
        let inst = forged.instances().unwrap();
        assert_eq!(inst[5], v);
        let fails = MockProver::run(k, &forged, vec![inst]).unwrap().verify().unwrap_err();
        let fails: Vec<String> = fails.iter().map(|e| e.to_string()).collect();
        assert!(
            fails.iter().any(|e| e.contains("('lin')") && e.contains(&format!("at offset {range_row}\n"))),
            "the range check of `ids` (plan row {range_row}) did not reject {v:?}: {fails:?}"
        );
    }
}

#[test]
fn a_real_proof_binds_both_outputs() {
    use zkinfer_circuits::prove::{keygen, prove, shape_of, verify};
    let (q, x) = model();
    let (_, k) = shape_of(&q).unwrap();
    let params = zkinfer_circuits::srs::Srs::dev(k).unwrap().params;
    let pk = keygen(&params, &q).unwrap();
    let xq = q.quantize_input(&x).unwrap().values;
    let p = prove(&params, &pk, &q, &xq, Fr::from(9)).unwrap();
    assert_eq!(p.outputs, q.trace_outputs(&q.execute(&xq).unwrap()));
    verify(&params, pk.get_vk(), &p.instances, &p.proof).unwrap();
    for i in [6, 8 + 4] {
        let mut bad = p.instances.clone();
        bad[i] += Fr::from(1);
        assert!(verify(&params, pk.get_vk(), &bad, &p.proof).is_err(), "instance {i} tampered verified");
    }
}
