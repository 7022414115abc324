//! The zkinfer command-line tool and prover node as a library: the `zkinfer`
//! binary's subcommands, and the node (gRPC service, job store, workers,
//! chain watcher) that tests and the demo run in-process.

pub mod cli;
pub mod commands;
pub mod node;
pub mod progress;

use std::path::PathBuf;

/// Files of a compiled model directory.
pub struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    /// The directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelDir { root: root.into() }
    }
    /// The ONNX model copied there.
    pub fn onnx(&self) -> PathBuf {
        self.root.join("model.onnx")
    }
    /// The quantized model.
    pub fn qmodel(&self) -> PathBuf {
        self.root.join("model.qm")
    }
    /// The accuracy report.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.json")
    }
}
