//! Op by op: the integer executor against tract's float result on single-op
//! (and small fused) models with random weights and inputs.

use zkinfer_testkit::onnx as common;

use common::{Attr, Graph, Lcg};
use zkinfer_quantize::{Dataset, ImportOptions, QOpKind, QuantConfig, calibrate_and_quantize, import_onnx};

/// Compiles `g`, then checks every test input: |float − dequantized| ≤ tolerance, where the
/// tolerance is a few output quanta plus a small fraction of the output's magnitude.
/// Returns the compiled op families.
fn check(g: &Graph, input_len: usize, input_amp: f32, config: QuantConfig) -> Vec<&'static str> {
    let dir = tempfile::tempdir().unwrap();
    let path = g.write(dir.path(), "m.onnx");
    let model = import_onnx(&path, &ImportOptions::default()).unwrap();
    let mut rng = Lcg(99);
    let rows = |rng: &mut Lcg, n: usize| -> Vec<Vec<f64>> {
        (0..n).map(|_| rng.vec(input_len, input_amp).into_iter().map(f64::from).collect()).collect()
    };
    let calib = Dataset::new(rows(&mut rng, 24), None);
    let (q, _) = calibrate_and_quantize(&model, &calib, &config, || {}).unwrap();
    let runner = model.runner(&[q.output_tensor().name.clone()]).unwrap();
    let s_out = q.output_tensor().scale_bits;
    // A lookup answers with its bucket's midpoint: add slope (≤ 1 for sigmoid and tanh) × half a bucket.
    let bucket_err: f64 = q
        .ops
        .iter()
        .map(|o| match o.kind {
            QOpKind::Lookup(ref l) => {
                let s_in = q.tensors[o.inputs[0]].scale_bits;
                (l.in_shift as f64 - 1.0 - s_in as f64).exp2()
            }
            _ => 0.0,
        })
        .sum();
    let mut worst = 0.0f64;
    for row in rows(&mut rng, 12) {
        // Stay inside the calibrated range: test inputs at 90% of the calibration amplitude.
        let row: Vec<f64> = row.iter().map(|v| v * 0.9).collect();
        let float: Vec<f64> = runner.run(&row).unwrap()[0].iter().map(|&v| v as f64).collect();
        let qi = q.quantize_input(&row).unwrap();
        let trace = q.execute(&qi.values).unwrap();
        let deq = q.dequantize_output(&trace);
        assert_eq!(float.len(), deq.len());
        let mag = float.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = 4.0 * (-s_out as f64).exp2() + 2e-3 * mag + bucket_err;
        for (f, d) in float.iter().zip(&deq) {
            let e = (f - d).abs();
            worst = worst.max(e / tol);
            assert!(e <= tol, "{}: float {f} vs quantized {d} (error {e}, tolerance {tol})", g.output);
        }
    }
    assert!(worst.is_finite());
    q.ops.iter().map(|o| o.kind.family()).collect()
}

fn cfg() -> QuantConfig {
    QuantConfig::default()
}

#[test]
fn gemm_with_alpha_beta_and_trans_b() {
    let mut g = Graph::new(&[1, 12], 1);
    let w = g.rand_init("w", &[5, 12], 0.5);
    let c = g.rand_init("c", &[5], 0.5);
    g.node(
        "Gemm",
        "fc",
        &["input", &w, &c],
        vec![("transB", Attr::I(1)), ("alpha", Attr::F(0.5)), ("beta", Attr::F(2.0))],
    );
    assert_eq!(check(&g, 12, 1.0, cfg()), ["dense"]);
}

#[test]
fn matmul_then_bias_add_folds_into_one_dense() {
    let mut g = Graph::new(&[1, 8], 2);
    let w = g.rand_init("w", &[8, 6], 0.7);
    let b = g.rand_init("b", &[6], 0.3);
    let m = g.node("MatMul", "mm", &["input", &w], vec![]);
    g.node("Add", "bias", &[&m, &b], vec![]);
    assert_eq!(check(&g, 8, 1.0, cfg()), ["dense"]);
}

#[test]
fn conv_stride_pad_and_batchnorm_fold() {
    let mut g = Graph::new(&[1, 2, 7, 7], 3);
    let w = g.rand_init("w", &[3, 2, 3, 3], 0.5);
    let b = g.rand_init("b", &[3], 0.2);
    let c = g.node(
        "Conv",
        "conv",
        &["input", &w, &b],
        vec![("strides", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    let scale = g.init("bn_s", &[3], vec![1.5, 0.5, -1.0]);
    let bias = g.init("bn_b", &[3], vec![0.1, -0.2, 0.3]);
    let mean = g.init("bn_m", &[3], vec![0.05, 0.0, -0.1]);
    let var = g.init("bn_v", &[3], vec![0.5, 2.0, 1.0]);
    g.node("BatchNormalization", "bn", &[&c, &scale, &bias, &mean, &var], vec![]);
    assert_eq!(check(&g, 98, 1.0, cfg()), ["conv"]);
}

#[test]
fn conv_same_upper_auto_pad_without_bias() {
    let mut g = Graph::new(&[1, 1, 6, 5], 4);
    let w = g.rand_init("w", &[2, 1, 2, 2], 0.8);
    g.node("Conv", "conv", &["input", &w], vec![("auto_pad", Attr::S("SAME_UPPER"))]);
    assert_eq!(check(&g, 30, 1.0, cfg()), ["conv"]);
}

#[test]
fn standalone_batchnorm_is_affine() {
    let mut g = Graph::new(&[1, 2, 3, 3], 5);
    let s = g.init("s", &[2], vec![2.0, -0.5]);
    let b = g.init("b", &[2], vec![0.5, 0.25]);
    let m = g.init("m", &[2], vec![0.1, -0.3]);
    let v = g.init("v", &[2], vec![1.0, 0.25]);
    g.node("BatchNormalization", "bn", &["input", &s, &b, &m, &v], vec![]);
    assert_eq!(check(&g, 18, 1.0, cfg()), ["affine"]);
}

#[test]
fn elementwise_with_constants() {
    for (op, x_first) in [("Add", true), ("Sub", true), ("Sub", false), ("Mul", true), ("Div", true)] {
        let mut g = Graph::new(&[1, 3, 4], 6);
        let c = g.init("c", &[3, 1], vec![0.75, -1.25, 2.0]);
        let ins: [&str; 2] = if x_first { ["input", &c] } else { [&c, "input"] };
        g.node(op, "op", &ins, vec![]);
        assert_eq!(check(&g, 12, 1.0, cfg()), ["affine"], "{op}");
    }
}

#[test]
fn add_sub_mul_of_two_activations() {
    for (op, fam) in [("Add", "add"), ("Sub", "add"), ("Mul", "mul")] {
        let mut g = Graph::new(&[1, 10], 7);
        let w = g.rand_init("w", &[10, 10], 0.9);
        let d = g.node("MatMul", "mm", &["input", &w], vec![]);
        g.node(op, "op", &["input", &d], vec![]);
        assert_eq!(check(&g, 10, 1.0, cfg()), ["dense", fam], "{op}");
    }
}

#[test]
fn activations() {
    for (op, fam) in [("Relu", "relu"), ("LeakyRelu", "leaky_relu"), ("Sigmoid", "lookup"), ("Tanh", "lookup")] {
        let mut g = Graph::new(&[1, 16], 8);
        let attrs = if op == "LeakyRelu" { vec![("alpha", Attr::F(0.1))] } else { vec![] };
        g.node(op, "act", &["input"], attrs);
        // Amplitude 6 reaches the flat parts of sigmoid and tanh.
        assert_eq!(check(&g, 16, 6.0, cfg()), [fam], "{op}");
    }
}

#[test]
fn lookup_with_small_budgets() {
    let mut g = Graph::new(&[1, 16], 9);
    g.node("Sigmoid", "sig", &["input"], vec![]);
    let config = QuantConfig { act_bits: 12, table_bits: 8, ..QuantConfig::default() };
    assert_eq!(check(&g, 16, 4.0, config), ["lookup"]);
}

#[test]
fn pooling() {
    type Case = (&'static str, Vec<(&'static str, Attr)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "AveragePool",
            vec![
                ("kernel_shape", Attr::Ints(vec![3, 3])),
                ("strides", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ],
            "avg_pool",
        ),
        (
            "AveragePool",
            vec![
                ("kernel_shape", Attr::Ints(vec![3, 3])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("count_include_pad", Attr::I(1)),
            ],
            "avg_pool",
        ),
        ("MaxPool", vec![("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))], "max_pool"),
        ("MaxPool", vec![("kernel_shape", Attr::Ints(vec![3, 3])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))], "max_pool"),
        ("GlobalAveragePool", vec![], "global_avg_pool"),
    ];
    for (op, attrs, fam) in cases {
        let mut g = Graph::new(&[1, 2, 6, 6], 10);
        g.node(op, "pool", &["input"], attrs);
        assert_eq!(check(&g, 72, 1.0, cfg()), [fam], "{op}");
    }
}

#[test]
fn flatten_reshape_and_folded_shape_arithmetic() {
    // Flatten then Gemm.
    let mut g = Graph::new(&[1, 2, 2, 3], 11);
    let f = g.node("Flatten", "flat", &["input"], vec![("axis", Attr::I(1))]);
    let w = g.rand_init("w", &[4, 12], 0.5);
    g.node("Gemm", "fc", &[&f, &w], vec![("transB", Attr::I(1))]);
    assert_eq!(check(&g, 12, 1.0, cfg()), ["reshape", "dense"]);

    // PyTorch-style: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])), all folded by tract.
    let mut g = Graph::new(&[1, 3, 4], 12);
    let shape = g.node("Shape", "shape", &["input"], vec![]);
    let zero = g.init_i64("zero", &[], vec![0]);
    let n = g.node("Gather", "gather", &[&shape, &zero], vec![("axis", Attr::I(0))]);
    let axes = g.init_i64("axes", &[1], vec![0]);
    let n1 = g.node("Unsqueeze", "unsq", &[&n, &axes], vec![]);
    let minus1 = g.init_i64("minus1", &[1], vec![-1]);
    let target = g.node("Concat", "concat", &[&n1, &minus1], vec![("axis", Attr::I(0))]);
    let r = g.node("Reshape", "reshape", &["input", &target], vec![]);
    let w = g.rand_init("w", &[12, 2], 0.5);
    g.node("MatMul", "mm", &[&r, &w], vec![]);
    assert_eq!(check(&g, 12, 1.0, cfg()), ["reshape", "dense"]);
}

#[test]
fn final_softmax_is_dropped_with_a_note() {
    let mut g = Graph::new(&[1, 6], 13);
    let w = g.rand_init("w", &[6, 4], 1.0);
    let d = g.node("MatMul", "mm", &["input", &w], vec![]);
    let i = g.node("Identity", "id", &[&d], vec![]);
    g.node("Softmax", "softmax", &[&i], vec![("axis", Attr::I(1))]);
    let dir = tempfile::tempdir().unwrap();
    let m = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    assert_eq!(m.outputs[0].name, "mm_out");
    assert!(m.notes.iter().any(|n| n.contains("Softmax `softmax` dropped")), "{:?}", m.notes);
    assert_eq!(m.ops.len(), 1);
}

#[test]
fn symbolic_batch_is_fixed_to_one() {
    let mut g = Graph::new(&[-1, 4], 14);
    let w = g.rand_init("w", &[4, 3], 1.0);
    g.node("MatMul", "mm", &["input", &w], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let m = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    assert_eq!(m.inputs[0].shape, [1, 4]);
    assert_eq!(m.outputs[0].shape, [1, 3]);
}

#[test]
fn leaky_relu_semantics_are_exact() {
    let mut g = Graph::new(&[1, 4], 15);
    g.node("LeakyRelu", "lr", &["input"], vec![("alpha", Attr::F(0.25))]);
    let dir = tempfile::tempdir().unwrap();
    let m = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::new(vec![vec![1.0, -1.0, 0.5, -0.5]], None);
    let (q, _) = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap();
    let QOpKind::LeakyRelu(ref l) = q.ops[0].kind else { panic!("not leaky relu") };
    let (alpha, alpha_scale_bits) = (l.alpha, l.alpha_scale_bits);
    assert_eq!(alpha as f64 * (-(alpha_scale_bits as f64)).exp2(), 0.25);
    // -7 · 0.25 = -1.75 rounds half up to... -1.75 → -2; -6 · 0.25 = -1.5 → -1 (ties up).
    let t = q.execute(&[-7, -6, 5, 0]).unwrap();
    assert_eq!(t.tensors[q.outputs[0]].iter().copied().collect::<Vec<_>>(), [-2, -1, 5, 0]);
}

/// Every table function's error, measured on a grid of inputs against the float function,
/// stays within its bound: half a bucket times the steepest slope in reach, plus one output
/// quantum (and a relative 1e-3 for the float path). The table of measured errors is printed.
#[test]
fn table_functions_within_their_error_bound() {
    // (op, attributes, input range)
    type Case = (&'static str, Vec<(&'static str, Attr)>, (f32, f32));
    let cases: Vec<Case> = vec![
        ("Sigmoid", vec![], (-6.0, 6.0)),
        ("Tanh", vec![], (-3.0, 3.0)),
        ("Exp", vec![], (-4.0, 2.0)),
        ("Log", vec![], (0.25, 8.0)),
        ("Sqrt", vec![], (0.25, 8.0)),
        ("Reciprocal", vec![], (0.5, 8.0)),
        ("Softplus", vec![], (-4.0, 4.0)),
        ("Softsign", vec![], (-4.0, 4.0)),
        ("Elu", vec![("alpha", Attr::F(1.0))], (-4.0, 4.0)),
        ("Selu", vec![], (-4.0, 4.0)),
        // tract 0.23.9 computes Celu without the factor α (min(0, e^(x/α) − 1)); with α = 1 it
        // agrees with ONNX's definition, which our table follows for every α.
        ("Celu", vec![("alpha", Attr::F(1.0))], (-4.0, 4.0)),
        ("HardSigmoid", vec![], (-4.0, 4.0)),
        ("HardSwish", vec![], (-4.0, 4.0)),
        ("Erf", vec![], (-3.0, 3.0)),
        ("Gelu", vec![], (-4.0, 4.0)),
        ("Mish", vec![], (-4.0, 4.0)),
        ("ThresholdedRelu", vec![("alpha", Attr::F(0.5))], (-4.0, 4.0)),
        ("Shrink", vec![("lambd", Attr::F(0.5)), ("bias", Attr::F(0.25))], (-4.0, 4.0)),
        ("Sin", vec![], (-3.0, 3.0)),
        ("Cos", vec![], (-3.0, 3.0)),
        ("Atan", vec![], (-4.0, 4.0)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let n = 64;
    for (op, attrs, (lo, hi)) in cases {
        let mut g = Graph::new(&[1, n as i64], 1);
        g.node(op, "f", &["input"], attrs);
        let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
        let grid: Vec<f64> = (0..n).map(|i| lo as f64 + (hi - lo) as f64 * i as f64 / (n - 1) as f64).collect();
        let calib = Dataset::new(vec![grid.clone()], None);
        let (q, _) = calibrate_and_quantize(&model, &calib, &cfg(), || {}).unwrap();
        let runner = model.runner(&[q.output_tensor().name.clone()]).unwrap();
        let (s_in, s_out) = (q.input_tensor().scale_bits, q.output_tensor().scale_bits);
        let QOpKind::Lookup(ref l) = q.ops[0].kind else { panic!("{op}: not a table") };
        let half_bucket = (l.in_shift as f64 - 1.0 - s_in as f64).exp2();
        // Inputs strictly inside the range (the table's buckets near its ends straddle it).
        let inner: Vec<f64> = grid.iter().map(|v| v * 0.97).collect();
        let float: Vec<f64> = runner.run(&inner).unwrap()[0].iter().map(|&v| v as f64).collect();
        let got = q.dequantize_output(&q.execute(&q.quantize_input(&inner).unwrap().values).unwrap());
        // The steepest slope within half a bucket (and an input quantum) of the grid.
        let reach = half_bucket + (-s_in as f64).exp2();
        let slope = inner
            .iter()
            .map(|&x| {
                let h = reach / 8.0;
                (-8..8)
                    .map(|i| {
                        let a = x + i as f64 * h;
                        let fa = runner.run(&vec![a; n]).unwrap()[0][[0, 0]] as f64;
                        let fb = runner.run(&vec![a + h; n]).unwrap()[0][[0, 0]] as f64;
                        ((fb - fa) / h).abs()
                    })
                    .fold(0.0f64, f64::max)
            })
            .fold(0.0f64, f64::max);
        let mag = float.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let bound = slope * reach + (-s_out as f64).exp2() + 1e-3 * mag;
        let err = float.iter().zip(&got).fold(0.0f64, |m, (f, g)| m.max((f - g).abs()));
        eprintln!(
            "{op:16} max error {err:.5} (bound {bound:.5}; {} entries, half bucket {half_bucket:.5}, slope {slope:.3})",
            l.table.len()
        );
        assert!(err <= bound, "{op}: error {err} above its bound {bound}");
    }
}

/// A QDQ pair on an activation at a power-of-two scale is imported exactly (the pair's
/// clip at the pair's scale); at another scale, at the nearest power of two, with a note.
#[test]
fn qdq_pairs() {
    for (scale, exact) in [(1.0f32 / 32.0, true), (0.03f32, false)] {
        let mut g = Graph::new(&[1, 12], 50);
        let s = g.init("s", &[], vec![scale]);
        let z = g.init_int8("z", &[], 3, vec![0]);
        let q = g.node("QuantizeLinear", "q", &["input", &s, &z], vec![]);
        let d = g.node("DequantizeLinear", "dq", &[&q, &s, &z], vec![]);
        let w = g.rand_init("w", &[12, 4], 0.5);
        g.node("MatMul", "mm", &[&d, &w], vec![]);
        // Exact: the integer model matches the float one within the usual error. Not exact:
        // the inputs sit on another grid (2^-5 instead of 0.03), so only the note is checked.
        if exact {
            assert_eq!(check(&g, 12, 2.0, cfg()), ["clip", "dense"], "scale {scale}");
        }
        let dir = tempfile::tempdir().unwrap();
        let m = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
        let noted = m.notes.iter().any(|n| n.contains("not a power of two"));
        assert_eq!(noted, !exact, "{:?}", m.notes);
    }
    // A QuantizeLinear without its DequantizeLinear: refused, saying why.
    let mut g = Graph::new(&[1, 4], 51);
    let s = g.init("s", &[], vec![0.25]);
    let z = g.init_int8("z", &[], 2, vec![128]);
    g.node("QuantizeLinear", "lonely", &["input", &s, &z], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let e = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("integer tensor") && e.contains("QDQ pairs are supported"), "{e}");
}

#[test]
fn resize_nearest() {
    // Upsample 2x (asymmetric, floor) and a half-pixel resize to an odd size.
    let mut g = Graph::new(&[1, 2, 3, 3], 52);
    let roi = g.init("roi", &[0], vec![]);
    let sc = g.init("scales", &[4], vec![1.0, 1.0, 2.0, 2.0]);
    g.node("Resize", "up", &["input", &roi, &sc], vec![("mode", Attr::S("nearest"))]);
    assert_eq!(check(&g, 18, 1.0, cfg()), ["resize"]);
    let mut g = Graph::new(&[1, 1, 4, 4], 53);
    let roi = g.init("roi", &[0], vec![]);
    let sc = g.init("scales", &[0], vec![]);
    let sizes = g.init_i64("sizes", &[4], vec![1, 1, 7, 5]);
    g.node("Resize", "r", &["input", &roi, &sc, &sizes], vec![("mode", Attr::S("nearest"))]);
    assert_eq!(check(&g, 16, 1.0, cfg()), ["resize"]);
}

#[test]
fn matmul_of_two_activations_batched_and_broadcast() {
    // [2, 3, 4] @ [4, 5] where both are activations (the right one broadcast over the batch).
    let mut g = Graph::new(&[1, 24], 21);
    let w = g.rand_init("w", &[24, 20], 0.4);
    let b = g.node("MatMul", "proj", &["input", &w], vec![]);
    let sa = g.init_i64("sa", &[3], vec![2, 3, 4]);
    let sb = g.init_i64("sb", &[2], vec![4, 5]);
    let a = g.node("Reshape", "ra", &["input", &sa], vec![]);
    let b = g.node("Reshape", "rb", &[&b, &sb], vec![]);
    g.node("MatMul", "mm", &[&a, &b], vec![]);
    let fams = check(&g, 24, 1.0, cfg());
    assert!(fams.contains(&"matmul"), "{fams:?}");
}

#[test]
fn matmul_of_an_activation_with_itself_transposed() {
    // x·xᵀ (a Gram matrix): the same tensor on both sides.
    let mut g = Graph::new(&[3, 4], 22);
    let t = g.node("Transpose", "t", &["input"], vec![("perm", Attr::Ints(vec![1, 0]))]);
    g.node("MatMul", "gram", &["input", &t], vec![]);
    assert_eq!(check(&g, 12, 1.0, cfg()), ["transpose", "matmul"]);
}

#[test]
fn layer_and_rms_normalization_expand() {
    for op in ["LayerNormalization", "RMSNormalization"] {
        let mut g = Graph::new(&[1, 3, 8], 23).opset(if op == "RMSNormalization" { 23 } else { 17 });
        let gamma = g.rand_init("g", &[8], 1.0);
        let beta = g.rand_init("b", &[8], 0.5);
        let ins: Vec<&str> =
            if op == "RMSNormalization" { vec!["input", &gamma] } else { vec!["input", &gamma, &beta] };
        g.node(op, "norm", &ins, vec![("axis", Attr::I(-1))]);
        let fams = check(&g, 24, 2.0, cfg());
        assert!(fams.contains(&"lookup") && fams.contains(&"mul"), "{op}: {fams:?}");
    }
}

#[test]
fn attention_block_with_heads() {
    let g = zkinfer_testkit::onnx::attention_block(5, 8, 2, 24);
    let fams = check(&g, 40, 1.5, cfg());
    assert_eq!(fams.iter().filter(|f| **f == "matmul").count(), 2, "{fams:?}");
}

/// Integer token ids through an embedding: exact (the table entries at the output scale).
#[test]
fn embedding_by_token_ids_and_its_range() {
    let mut g = Graph::new(&[1, 5], 25);
    g.input_elem = 7;
    let table = g.rand_init("emb", &[11, 3], 1.0);
    g.node("Gather", "embed", &[&table, "input"], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    assert_eq!(model.integer_inputs, [true]);
    let calib = Dataset::new(vec![vec![0.0, 3.0, 10.0, 4.0, 1.0, 7.0, 2.0, 9.0, 5.0, 6.0]], None);
    let (q, _) = calibrate_and_quantize(&model, &calib, &cfg(), || {}).unwrap();
    assert_eq!(q.ops.iter().map(|o| o.kind.family()).collect::<Vec<_>>(), ["embedding"]);
    let runner = model.runner(&[q.output_tensor().name.clone()]).unwrap();
    let ids = [10.0, 0.0, 4.0, 4.0, 7.0];
    let float: Vec<f64> = runner.run(&ids).unwrap()[0].iter().map(|&v| v as f64).collect();
    let got = q.dequantize_output(&q.execute(&q.quantize_input(&ids).unwrap().values).unwrap());
    let quantum = (-q.output_tensor().scale_bits as f64).exp2();
    for (f, d) in float.iter().zip(&got) {
        assert!((f - d).abs() <= quantum / 2.0, "{f} vs {d}");
    }
    // An id outside the table: a clear execution error, not a panic or a wrapped index.
    for bad in [11, -1] {
        let e = q.execute(&[0, 1, bad, 2, 3]).unwrap_err().to_string();
        assert!(e.contains(&format!("index {bad} is outside the table's rows [0, 11)")), "{e}");
    }
}

#[test]
fn token_classifier_with_embedding_attention_and_gelu() {
    let g = zkinfer_testkit::onnx::token_classifier(13, 6, 8, 3, 26);
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let mut rng = Lcg(5);
    let sample =
        |rng: &mut Lcg| -> Vec<f64> { (0..6).map(|_| (rng.next_f32() * 13.0).floor().min(12.0) as f64).collect() };
    let rows: Vec<Vec<f64>> = (0..24).map(|_| sample(&mut rng)).collect();
    let (q, _) = calibrate_and_quantize(&model, &Dataset::new(vec![rows.concat()], None), &cfg(), || {}).unwrap();
    let fams: Vec<&str> = q.ops.iter().map(|o| o.kind.family()).collect();
    assert!(fams.contains(&"embedding") && fams.iter().filter(|f| **f == "matmul").count() == 2, "{fams:?}");
    let runner = model.runner(&[q.output_tensor().name.clone()]).unwrap();
    let (mut agree, mut worst) = (0, 0.0f64);
    for row in &rows[..12] {
        let float: Vec<f64> = runner.run(row).unwrap()[0].iter().map(|&v| v as f64).collect();
        let got = q.dequantize_output(&q.execute(&q.quantize_input(row).unwrap().values).unwrap());
        let argmax =
            |v: &[f64]| v.iter().enumerate().fold((0, f64::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0;
        agree += (argmax(&float) == argmax(&got)) as usize;
        let mag = float.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        worst = worst.max(float.iter().zip(&got).fold(0.0f64, |m, (f, d)| m.max((f - d).abs())) / mag.max(1e-9));
    }
    assert!(worst < 0.1, "relative error {worst}");
    assert!(agree >= 11, "argmax agreement {agree} of 12");
}
