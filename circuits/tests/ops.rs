//! One MockProver test per op family, each with its negative twin: a wrong
//! output witness (with matching instances) must break the constraint that
//! guards that op.

use zkinfer_testkit::onnx as common;

use std::sync::Arc;

use common::{Attr, Graph, Lcg};
use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use zkinfer_circuits::{CircuitShape, ModelCircuit, build_plan};
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, import_onnx};

/// Compiles `g`, proves one random input with MockProver, then flips every output witness in turn.
fn check(g: &Graph, input_len: usize, config: QuantConfig) -> Vec<&'static str> {
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let mut rng = Lcg(7);
    let rows: Vec<Vec<f64>> = (0..16).map(|_| rng.vec(input_len, 2.0).into_iter().map(f64::from).collect()).collect();
    let (q, _) = calibrate_and_quantize(&model, &Dataset::new(rows.clone(), None), &config, || {}).unwrap();
    let x = q.quantize_input(&rows[3].iter().map(|v| v * 0.9).collect::<Vec<_>>()).unwrap();
    let trace = q.execute(&x.values).unwrap();
    let plan = build_plan(&q, Some(&trace), 6).unwrap();
    let k = plan.min_k();
    let shape = CircuitShape { width: 6, limbs: plan.limbs() };
    let c = ModelCircuit::new(Arc::new(plan), Some(Fr::from(3)), shape);
    MockProver::run(k, &c, vec![c.instances().unwrap()]).unwrap().assert_satisfied();
    for o in 0..c.plan.outputs.len().min(4) {
        let mut plan = (*c.plan).clone();
        let w = plan.outputs[o];
        plan.values.as_mut().unwrap()[w] -= 1;
        let bad = ModelCircuit { plan: Arc::new(plan), ..c.clone() };
        let r = MockProver::run(k, &bad, vec![bad.instances().unwrap()]).unwrap().verify();
        assert!(r.is_err(), "{}: output {o} off by one was accepted", g.output);
    }
    q.ops.iter().map(|o| o.kind.family()).collect()
}

fn cfg() -> QuantConfig {
    QuantConfig::default()
}

#[test]
fn dense_with_bias() {
    let mut g = Graph::new(&[1, 13], 1);
    let w = g.rand_init("w", &[4, 13], 0.5);
    let b = g.rand_init("b", &[4], 0.5);
    g.node("Gemm", "fc", &["input", &w, &b], vec![("transB", Attr::I(1))]);
    assert_eq!(check(&g, 13, cfg()), ["dense"]);
}

#[test]
fn conv_with_padding_and_stride() {
    let mut g = Graph::new(&[1, 2, 5, 5], 2);
    let w = g.rand_init("w", &[2, 2, 3, 3], 0.5);
    let b = g.rand_init("b", &[2], 0.2);
    g.node(
        "Conv",
        "conv",
        &["input", &w, &b],
        vec![("strides", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    assert_eq!(check(&g, 50, cfg()), ["conv"]);
}

#[test]
fn add_sub_and_mul_of_activations() {
    for (op, fam) in [("Add", "add"), ("Sub", "add"), ("Mul", "mul")] {
        let mut g = Graph::new(&[1, 6], 3);
        let w = g.rand_init("w", &[6, 6], 0.9);
        let d = g.node("MatMul", "mm", &["input", &w], vec![]);
        g.node(op, "op", &["input", &d], vec![]);
        assert_eq!(check(&g, 6, cfg()), ["dense", fam], "{op}");
    }
}

#[test]
fn affine_by_constants() {
    let mut g = Graph::new(&[1, 2, 3], 4);
    let c = g.init("c", &[2, 1], vec![0.75, -1.25]);
    let m = g.node("Mul", "mul", &["input", &c], vec![]);
    let d = g.init("d", &[3], vec![0.5, -0.5, 0.25]);
    g.node("Sub", "sub", &[&m, &d], vec![]);
    assert_eq!(check(&g, 6, cfg()), ["affine", "affine"]);
}

#[test]
fn relu_and_leaky_relu() {
    let mut g = Graph::new(&[1, 8], 5);
    g.node("Relu", "relu", &["input"], vec![]);
    assert_eq!(check(&g, 8, cfg()), ["relu"]);
    let mut g = Graph::new(&[1, 8], 6);
    g.node("LeakyRelu", "lrelu", &["input"], vec![("alpha", Attr::F(0.2))]);
    assert_eq!(check(&g, 8, cfg()), ["leaky_relu"]);
}

#[test]
fn sigmoid_and_tanh_lookups() {
    let small = QuantConfig { act_bits: 12, table_bits: 8, ..QuantConfig::default() };
    for op in ["Sigmoid", "Tanh"] {
        let mut g = Graph::new(&[1, 8], 7);
        g.node(op, "f", &["input"], vec![]);
        assert_eq!(check(&g, 8, small), ["lookup"], "{op}");
    }
}

#[test]
fn pools() {
    let mut g = Graph::new(&[1, 1, 4, 4], 8);
    g.node(
        "MaxPool",
        "max",
        &["input"],
        vec![("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))],
    );
    assert_eq!(check(&g, 16, cfg()), ["max_pool"]);
    // A 3×3 window with padding: divisors 4, 6 and 9, none a power of two but 4.
    let mut g = Graph::new(&[1, 1, 4, 4], 9);
    g.node(
        "AveragePool",
        "avg",
        &["input"],
        vec![("kernel_shape", Attr::Ints(vec![3, 3])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    assert_eq!(check(&g, 16, cfg()), ["avg_pool"]);
    let mut g = Graph::new(&[1, 2, 3, 3], 10);
    g.node("GlobalAveragePool", "gap", &["input"], vec![]);
    assert_eq!(check(&g, 18, cfg()), ["global_avg_pool"]);
}
