//! zkinfer-circuits: compiles a quantized model (`zkinfer_quantize::QModel`)
//! into a halo2 circuit (KZG on BN254, SHPLONK) and runs keygen, prove and
//! verify.
//!
//! **Status: not implemented yet.** This crate is an empty placeholder in the
//! workspace; it exposes no API. The circuit compiler is tracked by the issue
//! "Circuit compiler and prover".
