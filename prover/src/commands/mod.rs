//! One module per subcommand.

pub mod compile;
pub mod eval;
pub mod evm;
pub mod prove;
pub mod setup;
pub mod srs;
pub mod verify;
