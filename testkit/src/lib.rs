//! zkinfer-testkit: what the workspace's tests share, as a dev-dependency (so
//! no test includes another crate's files by path, and no library carries
//! test-only code).
//!
//! * [`onnx`] builds small ONNX models in memory with seeded random weights,
//!   and names the bundled fixture models.
//! * `anvil` (feature `anvil`) starts a local anvil from `contracts/node_modules`.

#[cfg(feature = "anvil")]
pub mod anvil;
pub mod onnx;
