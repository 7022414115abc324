//! The one error type of this crate.

/// Everything that can go wrong generating a verifier or talking to a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// The circuits crate failed (keys, SRS, proof files).
    #[error(transparent)]
    Circuit(#[from] zkinfer_circuits::CircuitError),
    /// snark-verifier could not generate the verifier.
    #[error("generating the EVM verifier: {0}")]
    Generate(String),
    /// An external tool (node, npm, solc-js) failed.
    #[error("{0}")]
    Tool(String),
    /// A transaction or call reverted; `reason` is the decoded custom error
    /// when the contract's ABI knows it.
    #[error("reverted: {reason}")]
    Reverted {
        /// What the revert data decodes to, or its hex.
        reason: String,
        /// The raw revert data.
        data: Vec<u8>,
        /// Gas used by the reverted transaction (0 for a call).
        gas_used: u64,
    },
    /// The chain (embedded EVM or JSON-RPC endpoint) failed.
    #[error("chain: {0}")]
    Chain(String),
    /// Something read from the chain or a file is not what it should be.
    #[error("{0}")]
    Invalid(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, VerifierError>;
