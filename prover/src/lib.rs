//! The zkinfer command-line tool and prover node as a library: the `zkinfer`
//! binary's subcommands, and the node (gRPC service, job store, workers,
//! chain watcher) that tests and the demo run in-process.

pub mod cli;
pub mod commands;
pub mod node;
pub mod progress;
