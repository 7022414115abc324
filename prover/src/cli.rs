//! The `zkinfer` command line: its parser (clap) and the dispatch to [`crate::commands`].
//! In the library so that tests can parse every command the documentation shows.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

/// Verifiable inference: quantize an ONNX model, prove its outputs, verify the proofs.
#[derive(Parser)]
#[command(
    name = "zkinfer",
    version,
    about = "Verifiable inference: quantize an ONNX model, prove its outputs, verify the proofs natively or on an EVM chain, run a prover node",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the whole product end to end on a bundled model: compile, keys, EVM
    /// verifier, contracts on an embedded chain, a prover node that earns a
    /// bounty, forged proofs rejected.
    Demo(commands::demo::DemoArgs),
    /// Quantize an ONNX model: calibrate on a dataset, write DIR/model.qm and DIR/report.json.
    Compile(commands::compile::CompileArgs),
    /// Compare the float and the quantized model of a compiled DIR on a dataset.
    Eval(commands::eval::EvalArgs),
    /// Make (INSECURE dev), import (.ptau) or downsize a KZG structured reference string.
    Srs(commands::srs::SrsArgs),
    /// Generate the proving and verifying keys of a compiled DIR; prints the model id.
    Setup(commands::setup::SetupArgs),
    /// Run the model of DIR on an input and prove the output; writes a proof file.
    Prove(commands::prove::ProveArgs),
    /// Check a proof file against DIR: prints `valid`, or `invalid: REASON` and exits 1.
    Verify(commands::verify::VerifyArgs),
    /// Run a prover node: gRPC job service with a persistent queue, a worker pool, optional
    /// TLS and an optional chain watcher that earns JobMarket bounties.
    Node(commands::node::NodeArgs),
    /// Submit a proof job to a node; with --wait, wait for the proof and save it.
    Submit(commands::client::SubmitArgs),
    /// List a node's jobs and their states.
    Jobs(commands::client::JobsArgs),
    /// Export a model's EVM verifier (Solidity + bytecode), deploy it, run proofs through it
    /// (embedded EVM or a JSON-RPC chain).
    Evm(commands::evm::EvmArgs),
    /// Show this build and machine: version, proving backend (CPU or CUDA GPU) and why.
    Info(commands::info::InfoArgs),
}

impl Cli {
    /// Runs the parsed command: `Ok(true)` on success, `Ok(false)` when `verify` or `evm`
    /// rejected what it checked (it printed why), `Err` with the message otherwise.
    pub fn execute(self) -> anyhow::Result<bool> {
        match self.command {
            Command::Demo(args) => commands::demo::run(args).map(|_| true),
            Command::Compile(args) => commands::compile::run(args).map(|_| true),
            Command::Eval(args) => commands::eval::run(args).map(|_| true),
            Command::Srs(args) => commands::srs::run(args).map(|_| true),
            Command::Setup(args) => commands::setup::run(args).map(|_| true),
            Command::Prove(args) => commands::prove::run(args).map(|_| true),
            Command::Node(args) => commands::node::run(args).map(|_| true),
            Command::Submit(args) => commands::client::submit(args).map(|_| true),
            Command::Jobs(args) => commands::client::jobs(args).map(|_| true),
            Command::Info(args) => commands::info::run(args).map(|_| true),
            Command::Evm(args) => commands::evm::run(args),
            Command::Verify(args) => commands::verify::run(args),
        }
    }

    /// Runs the parsed command; the process's exit code (errors printed to stderr).
    pub fn run(self) -> ExitCode {
        match self.execute() {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}
