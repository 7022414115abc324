//! Bad input gets a clear error naming the problem, never a panic.

use zkinfer_testkit::onnx as common;

use common::{Attr, Graph, fixture};
use zkinfer_quantize::{
    Dataset, ImportOptions, QModel, QuantConfig, QuantizeError, calibrate_and_quantize, import_onnx,
};

fn import_err(g: &Graph) -> QuantizeError {
    let dir = tempfile::tempdir().unwrap();
    import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap_err()
}

#[test]
fn unsupported_op_names_op_and_node() {
    let mut g = Graph::new(&[1, 4], 1);
    let r = g.node("Relu", "first", &["input"], vec![]);
    g.node("Det", "my_det_node", &[&r], vec![]);
    let e = import_err(&g);
    assert!(matches!(&e, QuantizeError::UnsupportedOp { op, node, .. } if op == "Det" && node == "my_det_node"), "{e}");
    assert_eq!(e.to_string(), "unsupported ONNX op `Det` at node `my_det_node`");
}

#[test]
fn unsupported_uses_of_supported_ops_say_why() {
    let mut g = Graph::new(&[4, 4], 2);
    let c = g.rand_init("c", &[3, 4], 1.0);
    g.node("MatMul", "mm2", &[&c, "input"], vec![]);
    let e = import_err(&g).to_string();
    assert!(e.contains("`MatMul` at node `mm2`") && e.contains("the constant is the left operand"), "{e}");

    let mut g = Graph::new(&[1, 2, 2, 3, 3, 3], 3);
    let w = g.rand_init("w", &[2, 2, 2, 2, 2, 2], 1.0);
    g.node("Conv", "conv4d", &["input", &w], vec![]);
    let e = import_err(&g).to_string();
    assert!(e.contains("`Conv` at node `conv4d`") && e.contains("1-D, 2-D and 3-D convolutions (input rank 6)"), "{e}");

    let mut g = Graph::new(&[1, 4], 4);
    let c = g.init("c", &[1, 4], vec![1.0, 2.0, 3.0, 4.0]);
    g.node("Div", "inverse", &[&c, "input"], vec![]);
    let e = import_err(&g).to_string();
    assert!(e.contains("`Div` at node `inverse`") && e.contains("a constant divided by an activation"), "{e}");

    let mut g = Graph::new(&[1, 1, 4, 4], 5);
    g.node(
        "MaxPool",
        "pool1",
        &["input"],
        vec![("kernel_shape", Attr::Ints(vec![2])), ("strides", Attr::Ints(vec![2]))],
    );
    let e = import_err(&g).to_string();
    // tract's own shape inference meets the bad attribute first (it panics inside; the import
    // reports it as an error).
    assert!(e.contains("tract failed on a malformed node"), "{e}");
}

#[test]
fn run_time_parameters_and_forms_not_unrolled_say_why() {
    // A TopK whose k is a graph input: a parameter, not data to Cast.
    let mut g = Graph::new(&[1, 6], 6);
    g.add_input("k", &[1], 7);
    g.node_n("TopK", "top", &["input", "k"], vec![], 2);
    let e = import_err(&g).to_string();
    assert!(e.contains("`TopK` at node `top`") && e.contains("input `k` is computed at run time"), "{e}");
    assert!(!e.contains("Cast it to float"), "{e}");

    // Shapes, starts and split sizes as graph inputs: the input named, not only the
    // output whose shape is unknown.
    for (op, params) in [("Reshape", 1), ("Slice", 2), ("Split", 1), ("Unsqueeze", 1)] {
        let mut g = Graph::new(&[2, 6], 9);
        let mut ins = vec!["input".to_string()];
        for p in 0..params {
            ins.push(g.add_input(&format!("p{p}"), &[2], 7));
        }
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        g.node(op, "shaped", &ins, vec![]);
        let e = import_err(&g).to_string();
        assert!(
            e.contains(&format!("`{op}` at node `shaped`")) && e.contains("input `p0` is computed at run time"),
            "{op}: {e}"
        );
    }

    // An LSTM the expansion does not unroll (`input_forget`): the op, the node and what is
    // supported, not a bare "unsupported op".
    let (s, i, h) = (3i64, 2i64, 2i64);
    let mut g = Graph::new(&[s, 1, i], 7);
    let w = g.rand_init("W", &[1, 4 * h, i], 0.5);
    let r = g.rand_init("R", &[1, 4 * h, h], 0.5);
    let attrs = vec![("hidden_size", Attr::I(h)), ("input_forget", Attr::I(1))];
    g.node("LSTM", "lstm", &["input", &w, &r], attrs);
    let e = import_err(&g).to_string();
    assert!(e.contains("`LSTM` at node `lstm`") && e.contains("not unrolled") && e.contains("input_forget"), "{e}");

    // Gather of computed integer data (token ids) by computed indices: the node and why,
    // not an internal node of the float expansion.
    let mut g = Graph::new(&[1, 4], 8);
    g.add_input("ids", &[1, 8], 7);
    let idx = g.node("ArgMax", "am", &["input"], vec![("axis", Attr::I(1)), ("keepdims", Attr::I(1))]);
    let picked = g.node("Gather", "pick", &["ids", &idx], vec![("axis", Attr::I(1))]);
    g.node("Cast", "f", &[&picked], vec![("to", Attr::I(1))]);
    let e = import_err(&g).to_string();
    assert!(e.contains("`Gather` at node `pick`") && e.contains("integer or bool tensor computed"), "{e}");
}

#[test]
fn corrupt_truncated_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\xff\xfe this is not protobuf \x00\x01").unwrap();
    let e = import_onnx(&junk, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, QuantizeError::CorruptModel { .. }), "{e}");
    assert!(e.to_string().contains("junk.onnx: not a valid ONNX model"), "{e}");

    let bytes = std::fs::read(fixture("mlp_digits", "model.onnx")).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_onnx(&cut, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, QuantizeError::CorruptModel { .. }), "{e}");

    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let e = import_onnx(&empty, &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("holds no graph"), "{e}");

    let e = import_onnx(&dir.path().join("nope.onnx"), &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, QuantizeError::Io { .. }) && e.to_string().contains("nope.onnx"), "{e}");
}

#[test]
fn wrong_input_shape_is_reported() {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let data = Dataset::new(vec![vec![0.0; 64], vec![0.0; 63]], None);
    let e = calibrate_and_quantize(&m, &data, &QuantConfig::default(), || {}).unwrap_err();
    assert_eq!(e.to_string(), "input 1: has 63 values, but model input `input` has shape [1, 64] = 64 values");

    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let (q, _) = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap();
    assert!(matches!(q.quantize_input(&[0.0; 65]), Err(QuantizeError::InputShape { got: 65, expected: 64, .. })));
    assert!(matches!(q.execute(&[0; 3]), Err(QuantizeError::InputShape { got: 3, .. })));
    // Out-of-range integer input is refused, not clamped silently.
    let mut big = vec![0i64; 64];
    big[5] = 1 << 20;
    assert!(matches!(q.execute(&big), Err(QuantizeError::ActivationOverflow { .. })));
}

#[test]
fn activation_overflow_names_the_op() {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let (q, _) = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap();
    // Inputs at the edge of the range drive the first layer far past its calibrated maximum.
    let (lo, hi) = zkinfer_quantize::fixed::signed_range(q.config.act_bits);
    let mut found = false;
    for sign in [1i64, -1] {
        let x: Vec<i64> = (0..64).map(|i| if (i % 2 == 0) == (sign > 0) { hi as i64 } else { lo as i64 }).collect();
        if let Err(e) = q.execute(&x) {
            let s = e.to_string();
            assert!(s.contains("op `fc0`") || s.contains("op `fc2`"), "{s}");
            assert!(s.contains("--act-bits"), "{s}");
            found = true;
        }
    }
    assert!(found, "extreme inputs never overflowed");
}

#[test]
fn bad_config_and_qmodel_files() {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let bad = QuantConfig { act_bits: 40, ..QuantConfig::default() };
    let e = calibrate_and_quantize(&m, &calib, &bad, || {}).unwrap_err().to_string();
    assert!(e.contains("act_bits 40"), "{e}");

    let (q, _) = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&q.to_json()).unwrap();
    v["version"] = 99.into();
    let e = QModel::from_json(v.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("format version 99"), "{e}");
    v["version"] = 1.into();
    let e = QModel::from_json(v.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("format version 1") && e.contains("zkinfer compile"), "{e}");
    v["version"] = 2.into();
    for (field, value, want) in [
        ("inputs", serde_json::json!([]), "no inputs"),
        ("outputs", serde_json::json!([99]), "out of range"),
        ("inputs", serde_json::json!([0, 0]), "listed twice"),
    ] {
        let mut w = v.clone();
        w[field] = value;
        let e = QModel::from_json(w.to_string().as_bytes()).unwrap_err();
        assert!(e.contains(want), "{field}: {e}");
    }
    let mut w = v.clone();
    w["tensors"][0]["integer"] = true.into();
    let e = QModel::from_json(w.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("integer tensor") && e.contains("scale_bits"), "{e}");
    v["ops"][0]["inputs"] = serde_json::json!([7]);
    let e = QModel::from_json(v.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("reads tensor 7"), "{e}");
    assert!(QModel::from_json(b"{").is_err());
    let dir = tempfile::tempdir().unwrap();
    let e = QModel::read(&dir.path().join("missing.qm")).unwrap_err().to_string();
    assert!(e.contains("missing.qm"), "{e}");
}
