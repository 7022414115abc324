//! `zkinfer`: compile ONNX models into provable fixed-point models and evaluate them.

mod commands;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Verifiable inference: quantize an ONNX model, prove its outputs, verify the proofs.
#[derive(Parser)]
#[command(name = "zkinfer", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quantize an ONNX model: calibrate on a dataset, write DIR/model.qm and DIR/report.json.
    Compile(commands::compile::CompileArgs),
    /// Compare the float and the quantized model of a compiled DIR on a dataset.
    Eval(commands::eval::EvalArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile(args) => commands::compile::run(args),
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Files of a compiled model directory.
pub(crate) struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelDir { root: root.into() }
    }
    pub fn onnx(&self) -> PathBuf {
        self.root.join("model.onnx")
    }
    pub fn qmodel(&self) -> PathBuf {
        self.root.join("model.qm")
    }
    pub fn report(&self) -> PathBuf {
        self.root.join("report.json")
    }
}
