//! Models with several inputs and outputs, and integer inputs: import, calibration from
//! EZKL-form files, and the integer executor against tract on every output.

use zkinfer_testkit::onnx as common;

use common::{Attr, Graph, Lcg};
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, QuantizeError, calibrate_and_quantize, import_onnx};

/// `a` [1,6] and `b` [1,6] → `y1 = a·W + b` [1,6] and `y2 = relu(a) * b` [1,6].
fn two_in_two_out() -> Graph {
    let mut g = Graph::new(&[1, 6], 5);
    g.input.0 = "a".into();
    g.add_input("b", &[1, 6], 1);
    let w = g.rand_init("w", &[6, 6], 0.8);
    let mm = g.node("MatMul", "mm", &["a", &w], vec![]);
    let y1 = g.node("Add", "y1", &[&mm, "b"], vec![]);
    let r = g.node("Relu", "r", &["a"], vec![]);
    g.node("Mul", "y2", &[&r, "b"], vec![]);
    g.add_output(&y1);
    g
}

/// EZKL's form: one list per input, `n` samples concatenated in each.
fn ezkl_lists(rng: &mut Lcg, sizes: &[usize], n: usize) -> Vec<Vec<f64>> {
    sizes.iter().map(|&s| rng.vec(s * n, 1.0).into_iter().map(f64::from).collect()).collect()
}

#[test]
fn two_inputs_two_outputs_match_the_float_model() {
    let g = two_in_two_out();
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let names = |ts: &[zkinfer_quantize::TensorSpec]| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&model.inputs), ["a", "b"]);
    assert_eq!(names(&model.outputs), ["y1_out", "y2_out"]);
    let mut rng = Lcg(3);
    let calib = Dataset::new(ezkl_lists(&mut rng, &[6, 6], 20), None);
    let (q, cal) = calibrate_and_quantize(&model, &calib, &QuantConfig::default(), || {}).unwrap();
    assert_eq!(cal.samples, 20);
    assert_eq!((q.inputs.len(), q.outputs.len(), q.input_len(), q.output_len()), (2, 2, 12, 12));
    // The model file keeps both lists through a round trip.
    let back = zkinfer_quantize::QModel::from_json(&q.to_json()).unwrap();
    assert_eq!(back, q);

    let runner = model.runner(&names(&model.outputs)).unwrap();
    let test = Dataset::new(ezkl_lists(&mut rng, &[6, 6], 8), None);
    let samples = test.samples(&q.input_specs()).unwrap();
    assert_eq!(samples.len(), 8);
    for x in &samples {
        let x: Vec<f64> = x.iter().map(|v| v * 0.9).collect();
        let float: Vec<f64> = runner.run(&x).unwrap().iter().flat_map(|a| a.iter().map(|&v| v as f64)).collect();
        let trace = q.execute(&q.quantize_input(&x).unwrap().values).unwrap();
        let got = q.dequantize_output(&trace);
        assert_eq!(got.len(), 12);
        let scales = q.output_scales();
        for (i, (f, d)) in float.iter().zip(&got).enumerate() {
            let tol = 4.0 * (-scales[i] as f64).exp2() + 2e-3 * f.abs();
            assert!((f - d).abs() <= tol, "output value {i}: float {f}, quantized {d}");
        }
        // The flat input is `a` then `b`.
        assert_eq!(q.trace_inputs(&trace).len(), 12);
        assert_eq!(&trace.tensors[q.inputs[1]].iter().copied().collect::<Vec<_>>()[..], &q.trace_inputs(&trace)[6..]);
    }
}

#[test]
fn input_files_must_fit_the_inputs() {
    let g = two_in_two_out();
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    // zkinfer's one-list-per-sample form is for one-input models: three lists for two inputs.
    let rows = Dataset::new(vec![vec![0.5; 6]; 3], None);
    let e = calibrate_and_quantize(&model, &rows, &QuantConfig::default(), || {}).unwrap_err().to_string();
    assert!(e.contains("3 lists, the model has 2 inputs (`a` [1, 6], `b` [1, 6])"), "{e}");
    let uneven = Dataset::new(vec![vec![0.5; 12], vec![0.5; 6]], None);
    let e = calibrate_and_quantize(&model, &uneven, &QuantConfig::default(), || {}).unwrap_err().to_string();
    assert!(e.contains("`b` has 1 samples, the first input has 2"), "{e}");
    let (q, _) = calibrate_and_quantize(
        &model,
        &Dataset::new(vec![vec![0.5; 6], vec![0.25; 6]], None),
        &QuantConfig::default(),
        || {},
    )
    .unwrap();
    let e = q.quantize_input(&[0.0; 6]).unwrap_err();
    assert!(matches!(e, QuantizeError::InputsLength { expected: 12, got: 6, .. }), "{e}");
    assert!(e.to_string().contains("`a` [1, 6], `b` [1, 6]"), "{e}");
    let opts = ImportOptions { input_shapes: Some(vec![vec![1, 6]]), ..Default::default() };
    let e = import_onnx(&g.write(dir.path(), "m.onnx"), &opts).unwrap_err().to_string();
    assert!(e.contains("1 input shapes given, the model has 2 inputs"), "{e}");
}

/// `x` [1,4] float and `ids` [1,4] int64: `y = Cast(ids)·c + x`.
fn with_integer_input(op_on_ids: &str) -> Graph {
    let mut g = Graph::new(&[1, 4], 9);
    g.input.0 = "x".into();
    g.add_input("ids", &[1, 4], 7);
    let c = g.init("c", &[1, 4], vec![0.5, -1.0, 0.25, 2.0]);
    let src = match op_on_ids {
        "Cast" => g.node("Cast", "cast", &["ids"], vec![("to", Attr::I(1))]),
        "Reshape+Cast" => {
            let shape = g.init_i64("shape", &[2], vec![2, 2]);
            let r = g.node("Reshape", "r", &["ids", &shape], vec![]);
            let back = g.init_i64("back", &[2], vec![1, 4]);
            let r = g.node("Reshape", "r2", &[&r, &back], vec![]);
            g.node("Cast", "cast", &[&r], vec![("to", Attr::I(1))])
        }
        other => {
            // Arithmetic straight on the integer tensor.
            let one = g.init_i64("one", &[1], vec![1]);
            let s = g.node(other, "int_op", &["ids", &one], vec![]);
            g.node("Cast", "cast", &[&s], vec![("to", Attr::I(1))])
        }
    };
    let m = g.node("Mul", "m", &[&src, &c], vec![]);
    g.node("Add", "y", &[&m, "x"], vec![]);
    g
}

#[test]
fn integer_inputs_are_exact_and_checked() {
    for wiring in ["Cast", "Reshape+Cast"] {
        let g = with_integer_input(wiring);
        let dir = tempfile::tempdir().unwrap();
        let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
        assert_eq!(model.integer_inputs, [false, true], "{wiring}");
        // ids take whole numbers 0..20.
        let calib = Dataset::new(
            vec![vec![0.5, -0.5, 1.0, 0.0, 0.25, 0.75, -1.0, 0.5], vec![0.0, 3.0, 7.0, 19.0, 1.0, 2.0, 5.0, 11.0]],
            None,
        );
        let (q, _) = calibrate_and_quantize(&model, &calib, &QuantConfig::default(), || {}).unwrap();
        let ids = &q.tensors[q.inputs[1]];
        assert!(ids.integer && ids.scale_bits == 0, "{wiring}: {ids:?}");
        let runner = model.runner(&[q.output_tensor().name.clone()]).unwrap();
        let x = [0.3, -0.2, 0.9, 0.1, 4.0, 0.0, 17.0, 2.0];
        let float: Vec<f64> = runner.run(&x).unwrap()[0].iter().map(|&v| v as f64).collect();
        let qi = q.quantize_input(&x).unwrap();
        assert_eq!(&qi.values[4..], [4, 0, 17, 2], "{wiring}: integers are taken as they are");
        let got = q.dequantize_output(&q.execute(&qi.values).unwrap());
        let quantum = (-q.output_tensor().scale_bits as f64).exp2();
        for (f, d) in float.iter().zip(&got) {
            assert!((f - d).abs() <= 2.0 * quantum, "{wiring}: float {f}, quantized {d}");
        }
        // A fraction is not an integer input's value.
        let e = q.quantize_input(&[0.0, 0.0, 0.0, 0.0, 1.0, 2.5, 0.0, 0.0]).unwrap_err().to_string();
        assert!(e.contains("model input `ids`, value 1: 2.5 is not a whole number"), "{e}");
        // Integers beyond the activation range on the calibration set are refused, not clamped.
        let big = Dataset::new(vec![vec![0.0; 4], vec![1e6, 0.0, 0.0, 0.0]], None);
        let e = calibrate_and_quantize(&model, &big, &QuantConfig::default(), || {}).unwrap_err().to_string();
        assert!(e.contains("integer input `ids` reaches 1000000") && e.contains("16-bit"), "{e}");
    }
    // Arithmetic on an integer tensor has integer semantics (truncating Div, wrapping): refused.
    for op in ["Add", "Div", "Mul"] {
        let g = with_integer_input(op);
        let dir = tempfile::tempdir().unwrap();
        let e = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{op}` at node `int_op`")) && e.contains("input `ids` is an integer tensor"),
            "{op}: {e}"
        );
    }
}

#[test]
fn casts_that_change_values_are_refused() {
    // A float activation cast to int64 rounds toward zero: refused.
    let mut g = Graph::new(&[1, 4], 2);
    let c = g.node("Cast", "to_int", &["input"], vec![("to", Attr::I(7))]);
    g.node("Cast", "back", &[&c], vec![("to", Attr::I(1))]);
    let dir = tempfile::tempdir().unwrap();
    let e = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("`Cast` at node `to_int`") && e.contains("float activation to Int64"), "{e}");
    // int64 → int8 may wrap: refused.
    let mut g = Graph::new(&[1, 4], 2);
    g.input.0 = "x".into();
    g.add_input("ids", &[1, 4], 7);
    let n = g.node("Cast", "narrow", &["ids"], vec![("to", Attr::I(3))]);
    let f = g.node("Cast", "f", &[&n], vec![("to", Attr::I(1))]);
    g.node("Add", "y", &[&f, "x"], vec![]);
    let e = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("`Cast` at node `narrow`") && e.contains("Int8"), "{e}");
}

/// NumPy datasets: a `.npy` of one input's samples, `.npz` archives of one array per input
/// (by name in any order, or positional `arr_0`, ...; stored or deflated), with labels.
#[test]
fn numpy_datasets_read_like_their_json() {
    use zkinfer_quantize::TensorSpec;
    let fx = |p: &str| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(p);
    let spec = |n: &str, s: &[usize]| TensorSpec { name: n.into(), shape: s.to_vec() };

    let json = Dataset::read(&fx("models/mlp_digits/test.json")).unwrap();
    let npy = Dataset::read(&fx("npy/mlp_digits_test.npy")).unwrap();
    let x = [spec("input", &[1, 64])];
    let want = json.samples(&x).unwrap();
    let got = npy.samples(&x).unwrap();
    assert_eq!(got.len(), 50);
    for (g, w) in got.iter().zip(&want) {
        // float32 in the .npy, decimal in the JSON.
        assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    let json = Dataset::read(&fx("models/two_input_digits/test.json")).unwrap();
    let inputs = [spec("top", &[1, 32]), spec("bottom", &[1, 32])];
    let want = json.samples(&inputs).unwrap();
    for file in ["npy/two_input_digits_test.npz", "npy/two_input_digits_test_compressed.npz"] {
        let d = Dataset::read(&fx(file)).unwrap();
        assert_eq!(d.labels.as_deref(), Some(&json.labels.as_ref().unwrap()[..50]), "{file}");
        let got = d.samples(&inputs).unwrap();
        assert_eq!(got.len(), 50, "{file}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-6), "{file}");
        }
    }

    // Broken files: named errors, never a panic.
    let dir = tempfile::tempdir().unwrap();
    let npz = std::fs::read(fx("npy/two_input_digits_test.npz")).unwrap();
    let npy = std::fs::read(fx("npy/mlp_digits_test.npy")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a.npy", b"\x93NUMPY\x01\x00".to_vec(), "not a NumPy .npy array"),
        ("b.npy", npy[..200].to_vec(), "data bytes for shape [50, 64]"),
        ("c.npy", npy.iter().map(|&b| if b == b'<' { b'>' } else { b }).collect(), "big-endian"),
        ("d.npz", npz[..npz.len() - 30].to_vec(), "not a NumPy .npz archive"),
        ("e.npz", b"PK\x05\x06".to_vec(), "not a NumPy .npz archive"),
    ];
    // A shape beyond any dataset (the header rewritten at its length): refused before
    // anything is allocated for it.
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999, 99999999), }";
    let mut huge = npy[..10].to_vec();
    huge.extend(format!("{text:<width$}\n", width = header_len - 1).bytes());
    huge.extend(&npy[10 + header_len..]);
    assert_eq!(huge.len(), npy.len());
    cases.push(("f.npy", huge, "exceeds 268435456 elements"));
    for i in (0..npz.len()).step_by(13) {
        // A byte of the archive set to 0xff (sizes, offsets, counts gone huge): a result or
        // an error, never a panic or an allocation the file does not back.
        let mut m = npz.clone();
        m[i] = 0xff;
        let p = dir.path().join("m.npz");
        std::fs::write(&p, &m).unwrap();
        let _ = Dataset::read(&p);
    }
    for i in 0..npz.len() {
        // Every truncation of an archive is an error (a few hundred of them).
        if i % 97 == 0 {
            let p = dir.path().join("t.npz");
            std::fs::write(&p, &npz[..i]).unwrap();
            assert!(Dataset::read(&p).is_err(), "truncated at {i}");
        }
    }
    for (name, bytes, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = Dataset::read(&p).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(name), "{name}: {e}");
    }
}
