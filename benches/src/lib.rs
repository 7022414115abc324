//! zkinfer-benches: criterion benchmarks.
//!
//! * `models`: for every fixture model, witness generation alone (integer
//!   execution + row plan), keygen, prove and verify.
//!
//! Run with `cargo bench -p zkinfer-benches` (reports in `target/criterion/`);
//! `ZKINFER_BENCH_MODELS=mlp_digits,cnn_digits` restricts the models.

use std::path::{Path, PathBuf};

use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// The fixture models, smallest first.
pub const MODELS: &[&str] = &["mlp_digits", "cnn_digits", "cnn_medium"];

/// The models selected by `ZKINFER_BENCH_MODELS` (all of [`MODELS`] by default).
pub fn selected_models() -> Vec<String> {
    match std::env::var("ZKINFER_BENCH_MODELS") {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|s| s.trim().to_string()).collect(),
        _ => MODELS.iter().map(|s| s.to_string()).collect(),
    }
}

/// `fixtures/models/NAME/FILE`.
pub fn fixture(name: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(name).join(file)
}

/// A fixture model quantized with the default budgets, and its first input, quantized.
pub fn load(name: &str) -> (QModel, Vec<i64>) {
    let float = import_onnx(&fixture(name, "model.onnx"), &ImportOptions::default()).expect("fixture imports");
    let calib = Dataset::read(&fixture(name, "calibration.json")).expect("calibration set");
    let (q, _) = calibrate_and_quantize(&float, &calib, &QuantConfig::default(), || {}).expect("quantizes");
    let input = Dataset::read(&fixture(name, "input.json")).expect("input");
    let x = q.quantize_input(&input.input_data[0]).expect("input fits").values;
    (q, x)
}
