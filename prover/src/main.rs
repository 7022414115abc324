//! `zkinfer`: compile ONNX models into provable fixed-point models, prove their outputs, verify the proofs.

use std::process::ExitCode;

use clap::Parser;
use zkinfer_prover::cli::Cli;

fn main() -> ExitCode {
    Cli::parse().run()
}
