//! Proving and verifying key files.
//!
//! * Verifying key: halo2's raw bytes (`SerdeFormat::RawBytes`), exactly the bytes
//!   whose keccak256 is the model id.
//! * Proving key: the 12 bytes `zkinfer-pk\n\0`, the keccak256 of the body, then the
//!   body in halo2's raw format. The checksum turns a truncated or corrupted file
//!   into a clear error instead of a failure deep inside halo2.

use std::io::{BufWriter, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use halo2_proofs::SerdeFormat;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2curves::bn256::G1Affine;
use sha3::{Digest, Keccak256};

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::{CircuitError, Result};

const PK_MAGIC: &[u8; 12] = b"zkinfer-pk\n\0";

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CircuitError + '_ {
    move |source| CircuitError::Io { path: path.display().to_string(), source }
}

/// Writes a verifying key (raw bytes).
pub fn write_vk(path: &Path, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    std::fs::write(path, vk.to_bytes(SerdeFormat::RawBytes)).map_err(io_err(path))
}

/// Reads a verifying key for a circuit of `shape`; every point is checked.
pub fn read_vk(path: &Path, shape: CircuitShape) -> Result<VerifyingKey<G1Affine>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    vk_from_bytes(&bytes, shape).map_err(|e| CircuitError::Invalid(format!("{}: {e}", path.display())))
}

/// Parses verifying-key bytes for a circuit of `shape`.
pub fn vk_from_bytes(bytes: &[u8], shape: CircuitShape) -> std::result::Result<VerifyingKey<G1Affine>, String> {
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        VerifyingKey::<G1Affine>::from_bytes::<ModelCircuit>(bytes, SerdeFormat::RawBytes, shape)
    }));
    match parsed {
        Ok(Ok(vk)) => Ok(vk),
        Ok(Err(e)) => Err(format!("not a verifying key of this circuit: {e}")),
        Err(_) => Err("not a verifying key of this circuit (malformed)".into()),
    }
}

/// Writes a proving key with its checksum.
pub fn write_pk(path: &Path, pk: &ProvingKey<G1Affine>) -> Result<()> {
    let body = pk.to_bytes(SerdeFormat::RawBytes);
    let mut w = BufWriter::new(std::fs::File::create(path).map_err(io_err(path))?);
    w.write_all(PK_MAGIC).map_err(io_err(path))?;
    w.write_all(&Keccak256::digest(&body)).map_err(io_err(path))?;
    w.write_all(&body).map_err(io_err(path))?;
    w.flush().map_err(io_err(path))
}

/// Reads a proving key written by [`write_pk`] for a circuit of `shape`.
pub fn read_pk(path: &Path, shape: CircuitShape) -> Result<ProvingKey<G1Affine>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |what: &str| CircuitError::Invalid(format!("{}: {what}", path.display()));
    if bytes.len() < 44 || &bytes[..12] != PK_MAGIC {
        return Err(bad("not a zkinfer proving key"));
    }
    let body = &bytes[44..];
    if Keccak256::digest(body).as_slice() != &bytes[12..44] {
        return Err(bad("checksum mismatch: the proving key is truncated or corrupted; run `zkinfer setup` again"));
    }
    // The body is what this program wrote: skip the per-point curve checks (they dominate load time).
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        ProvingKey::<G1Affine>::from_bytes::<ModelCircuit>(body, SerdeFormat::RawBytesUnchecked, shape)
    }));
    match parsed {
        Ok(Ok(pk)) => Ok(pk),
        _ => Err(bad("not a proving key of this circuit (was the model recompiled after setup?)")),
    }
}
