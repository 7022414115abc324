//! zkinfer-circuits: compiles a quantized model ([`zkinfer_quantize::QModel`])
//! into a halo2 circuit (halo2-axiom, KZG on BN254, SHPLONK).
//!
//! * [`plan`] lowers the model (and its execution trace) to rows of four gate
//!   kinds, with no halo2 types; building it with a trace re-checks every
//!   equation on integers. Each op family's lowering lives in `layers/<family>.rs`
//!   (named like `quantize/src/ops/<family>.rs`), written in the row gadgets of
//!   `gadgets.rs`.
//! * [`soundness`] lints a plan: every wire must be pinned down by its rows.
//! * [`circuit`] declares columns, gates and lookups and replays a plan.
//! * [`forge`] lets soundness tests assign a malicious prover's witness.
//! * [`cost`] reports the circuit's size and estimated proving memory.
//! * [`srs`] reads, generates (INSECURE dev), imports (.ptau) and downsizes SRSs.
//! * [`prove`] does keygen, proving and verification; [`keys`] their files;
//!   [`bundle`] a model directory after setup; [`proof_file`] the proof JSON.
//! * [`statement`] is the public statement's layout (inputs ‖ outputs ‖ binding);
//!   [`encoding`] every hex and field encoding of its values.

pub mod bundle;
pub mod circuit;
pub mod cost;
pub mod encoding;
pub mod error;
pub mod forge;
pub(crate) mod gadgets;
pub mod keys;
pub(crate) mod layers;
pub mod plan;
pub mod proof_file;
pub mod prove;
pub mod soundness;
pub mod srs;
pub mod statement;

pub use circuit::{CircuitShape, ModelCircuit, ModelConfig};
pub use error::{CircuitError, Result};
pub use plan::{Plan, build_plan};
