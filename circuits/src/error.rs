//! The one error type of this crate.

/// Everything that can go wrong compiling, proving or verifying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CircuitError {
    /// The model's integer execution failed (bad input, activation overflow).
    #[error(transparent)]
    Quantize(#[from] zkinfer_quantize::QuantizeError),
    /// A witness value breaks a circuit equation: the executor and the circuit disagree.
    #[error("witness: {0}")]
    Witness(String),
    /// The soundness lint found a wire that no row pins down: a prover could choose its value.
    #[error("unsound circuit: {0}")]
    Unsound(String),
    /// The model needs more rows than the largest supported circuit.
    #[error("the circuit needs 2^{k} rows, more than the supported maximum 2^{max}{detail}")]
    TooLarge {
        /// Required k.
        k: u32,
        /// Largest allowed k.
        max: u32,
        /// What the estimate says (rows, memory, time, the ops that dominate), or empty.
        detail: String,
    },
    /// halo2 failed (keygen, proving).
    #[error("halo2: {0}")]
    Halo2(String),
    /// A proof, key or SRS failed to parse or does not fit.
    #[error("{0}")]
    Invalid(String),
    /// The proof does not verify.
    #[error("proof rejected: {0}")]
    Rejected(String),
    /// An SRS file holds valid curve points that are not a KZG setup.
    #[error("{path}: not a valid SRS: {error}")]
    Srs {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: crate::srs::SrsError,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = CircuitError> = std::result::Result<T, E>;
