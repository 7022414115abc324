//! Helpers shared by the CLI and node tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `zkinfer` binary.
pub fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer")).args(args).output().expect("run zkinfer")
}

/// A path under fixtures/.
pub fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel).to_string_lossy().into_owned()
}

/// stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `zkinfer compile` of the mlp fixture into `out`, with `extra` arguments.
pub fn compile_mlp(out: &Path, extra: &[&str]) {
    let (model, calib) = (fixture("models/mlp_digits/model.onnx"), fixture("models/mlp_digits/calibration.json"));
    let mut args = vec!["compile", &model, "--calibration", &calib, "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = zkinfer(&args);
    assert!(o.status.success(), "{}", text(&o));
}
