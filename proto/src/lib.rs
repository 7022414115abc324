//! zkinfer-proto: the gRPC API (`proto/zkinfer/v1/*.proto`) and its generated
//! tonic code.
//!
//! **Status: not implemented yet.** This crate is an empty placeholder in the
//! workspace; it exposes no API. Tracked by the issue "Prover node".
