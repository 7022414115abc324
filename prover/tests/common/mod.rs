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
