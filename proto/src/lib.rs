//! zkinfer-proto: the gRPC API (`proto/zkinfer/v1/prover.proto`) and its
//! generated tonic code: `v1::prover_service_server::{ProverService,
//! ProverServiceServer}` for the node, `v1::prover_service_client::ProverServiceClient`
//! for clients.
//!
//! **Status: API defined, not served yet.** The node that implements it
//! (issue "Prover node") is not written.

/// Messages and services of `zkinfer.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("zkinfer.v1");
}

/// The encoded `FileDescriptorSet` of the API, with comments (for gRPC server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/zkinfer_descriptor.bin"));
