//! zkinfer-verifier: native proof verification, EVM verifier generation,
//! calldata encoding and the embedded EVM (revm).
//!
//! **Status: not implemented yet.** This crate is an empty placeholder in the
//! workspace; it exposes no API. Tracked by the issue "On-chain: EVM verifier,
//! model registry and proof-gated job market".
