//! zkinfer-verifier: the on-chain side of zkinfer.
//!
//! * [`evm`] generates a model's EVM verifier (snark-verifier → Solidity →
//!   solc-js) and encodes its calldata.
//! * [`chain`] is one type over an embedded EVM (revm, in-process) and any
//!   JSON-RPC endpoint (alloy).
//! * [`market`] binds and drives the contracts of `contracts/`
//!   (`RewardToken`, `ModelRegistry`, `JobMarket`).
//! * [`encoding`] the uint256 forms of field elements, signed values and the binding.
//!
//! Native verification lives in `zkinfer_circuits::prove::verify`; the proof
//! bytes are the same for both (Keccak EVM transcript).

pub mod anvil;
pub mod chain;
pub mod encoding;
pub mod error;
pub mod evm;
pub mod market;
pub mod split;

pub use chain::{Chain, Receipt};
pub use error::{Result, VerifierError};
pub use evm::{EvmVerifier, build_verifier, encode_calldata};
pub use market::{Contracts, Market};
