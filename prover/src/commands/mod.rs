//! One module per subcommand.

pub mod client;
pub mod compile;
pub mod demo;
pub mod eval;
pub mod evm;
pub mod info;
pub mod node;
pub mod prove;
pub mod setup;
pub mod srs;
pub mod verify;
