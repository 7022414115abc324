//! zkinfer-gpu: the `MsmBackend`/`NttBackend` traits with a CPU implementation,
//! and a CUDA implementation (cudarc + NVRTC) behind the `cuda` feature.
//!
//! **Status: not implemented yet.** This crate is an empty placeholder in the
//! workspace; it exposes no API. Tracked by the issue "GPU-accelerated proving".
