//! zkinfer-circuits: compiles a quantized model ([`zkinfer_quantize::QModel`])
//! into a halo2 circuit (halo2-axiom, KZG on BN254, SHPLONK).
//!
//! * [`plan`] lowers the model (and its execution trace) to rows of four gate
//!   kinds, with no halo2 types; building it with a trace re-checks every
//!   equation on integers.
//! * [`circuit`] declares columns, gates and lookups and replays a plan.
//!
//! **Status: in progress.** The circuit and its MockProver tests exist;
//! key generation, proving, verification, the SRS commands and the planner's
//! cost report are not done yet.

pub mod circuit;
pub mod error;
pub mod plan;
pub mod prove;

pub use circuit::{CircuitShape, ModelCircuit, ModelConfig};
pub use error::{CircuitError, Result};
pub use plan::{Plan, build_plan};
