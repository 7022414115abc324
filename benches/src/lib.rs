//! zkinfer-benches: criterion benchmarks (per op, per fixture model, MSM/NTT,
//! end to end).
//!
//! **Status: not implemented yet.** No benchmarks exist; they arrive with the
//! circuit compiler and the GPU backends.
