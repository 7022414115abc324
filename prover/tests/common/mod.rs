//! Helpers shared by the CLI and node tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

/// models/mlp set up with a dev SRS.
pub fn setup_models(root: &Path) -> PathBuf {
    let models = root.join("models");
    let dir = models.join("mlp");
    let d = dir.to_str().unwrap();
    compile_mlp(&dir, &[]);
    let srs = root.join("dev.srs");
    assert!(zkinfer(&["srs", "dev", "--k", "10", "-o", srs.to_str().unwrap()]).status.success());
    let o = zkinfer(&["setup", d, "--srs", srs.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    models
}

/// A `zkinfer node` child process, killed when dropped.
pub struct Node {
    /// The process.
    pub child: Child,
    /// `http://ADDR`.
    pub url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_node(data: &Path, models: &Path, extra: &[&str]) -> Node {
    start_node_with_env(data, models, extra, &[], Stdio::inherit())
}

/// [`start_node`] with extra environment variables and where its stderr goes.
pub fn start_node_with_env(data: &Path, models: &Path, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(["node", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .args(["--models", models.to_str().unwrap()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("node said `{line}`")).to_string();
    Node { child, url: format!("http://{addr}") }
}

/// The tool that `$var` names (a Python, a Chromium), or `None` with a SKIPPED note on stderr;
/// with `$require` set (CI), a missing tool fails the test instead.
pub fn optional_tool(var: &str, require: &str, skipped: &str) -> Option<std::ffi::OsString> {
    let tool = std::env::var_os(var);
    if tool.is_none() {
        assert!(std::env::var_os(require).is_none(), "{require} is set without {var}");
        eprintln!("SKIPPED {skipped}: set {var}");
    }
    tool
}
