//! The `zkinfer` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).output().expect("run zkinfer")
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel).to_string_lossy().into_owned()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn compile_then_eval_json() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("mlp");
    let o = zkinfer(&[
        "compile",
        &fixture("models/mlp_digits/model.onnx"),
        "--calibration",
        &fixture("models/mlp_digits/calibration.json"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("argmax agreement"), "{}", text(&o));
    for f in ["model.qm", "report.json", "model.onnx"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["model"], "mlp_digits");
    assert_eq!(report["config"]["act_bits"], 16);
    assert_eq!(report["ops"].as_array().unwrap().len(), 3);
    assert_eq!(report["content_hash"].as_str().unwrap().len(), 64);

    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/mlp_digits/test.json"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["samples", "argmax_agreement", "float_accuracy", "quantized_accuracy", "max_abs_error"] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["samples"], 450);
    assert!(r["argmax_agreement"].as_f64().unwrap() >= 0.99);

    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/mlp_digits/test.json")]);
    assert!(o.status.success());
    assert!(text(&o).contains("quantized accuracy"), "{}", text(&o));

    // A dataset for another model's input shape: exit 1 with the shape in the message.
    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/cnn_medium/input.json")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has 256 values") && text(&o).contains("[1, 64]"), "{}", text(&o));
}

#[test]
fn errors_exit_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let calib = fixture("models/mlp_digits/calibration.json");

    let o = zkinfer(&["compile", &fixture("bad/unsupported_erf.onnx"), "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("[quantize]") && t.contains("unsupported ONNX op `Erf` at node `erf_gelu_part`"), "{t}");

    let o = zkinfer(&["compile", &fixture("models/mlp_digits/meta.json"), "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a valid ONNX model"), "{}", text(&o));

    let o = zkinfer(&["compile", "/nonexistent/model.onnx", "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/nonexistent/model.onnx"), "{}", text(&o));

    let o = zkinfer(&[
        "compile",
        &fixture("models/cnn_digits/model.onnx"),
        "--calibration",
        &fixture("models/cnn_medium/calibration.json"),
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has 256 values") && text(&o).contains("[1, 1, 8, 8] = 64 values"), "{}", text(&o));

    let o = zkinfer(&["eval", "/nonexistent-dir", "--dataset", &calib]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("model.qm"), "{}", text(&o));
    assert!(!Path::new(out).exists(), "a failed compile left output behind");
}
