//! Proving and verifying key files.
//!
//! * Verifying key: halo2's raw bytes (`SerdeFormat::RawBytes`), exactly the bytes
//!   whose keccak256 is the model id.
//! * Proving key: the 12 bytes `zkinfer-pk\n\0`, the keccak256 of the body, then the
//!   body in halo2's raw format. The checksum turns a truncated or corrupted file
//!   into a clear error instead of a failure deep inside halo2.
//!
//! halo2-axiom's readers trust every length in the bytes (a polynomial length of
//! 0xFFFFFFFF is a 137 GB allocation, which aborts the process, and a wrong k
//! panics or allocates 2^k-sized tables). So before halo2 sees a key, its byte
//! layout is walked here ([`vk_layout_len`], [`check_pk_layout`]): every count
//! and length must be the one the circuit of the given k and shape implies, and
//! the file must end exactly where the layout does. halo2 then allocates only
//! what the file holds.

use std::io::{BufWriter, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use halo2_proofs::SerdeFormat;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, ProvingKey, VerifyingKey};
use halo2curves::bn256::{Fr, G1Affine};
use sha3::{Digest, Keccak256};

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::{CircuitError, Result};
use crate::prove::MAX_CIRCUIT_K;

const PK_MAGIC: &[u8; 12] = b"zkinfer-pk\n\0";

/// Widest MAC row a setup file may claim (the planner uses at most 24).
pub const MAX_WIDTH: usize = 64;
/// Most range-check limbs a setup file may claim (8 bits each).
pub const MAX_LIMBS: usize = 32;

/// Bytes of one G1 point in halo2's raw format (x and y, Montgomery form).
const G1_RAW: usize = 64;
/// Bytes of one field element in halo2's raw format.
const FR_RAW: usize = 32;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CircuitError + '_ {
    move |source| CircuitError::Io { path: path.display().to_string(), source }
}

/// Checks a circuit shape read from a file before anything is built from it
/// (a width of 100000 builds a gate expression deep enough to overflow the stack).
pub fn check_shape(shape: CircuitShape) -> std::result::Result<(), String> {
    if !(5..=MAX_WIDTH).contains(&shape.width) {
        return Err(format!("shape.width = {} is outside 5..={MAX_WIDTH}", shape.width));
    }
    if !(1..=MAX_LIMBS).contains(&shape.limbs) {
        return Err(format!("shape.limbs = {} is outside 1..={MAX_LIMBS}", shape.limbs));
    }
    let slots = shape.func_slots();
    if slots > crate::plan::MAX_FUNC_SLOTS || 2 * slots > shape.advice_columns() {
        return Err(format!(
            "shape.extra_func_slots = {} is outside 0..={} (or needs more than the {} advice columns)",
            shape.extra_func_slots,
            crate::plan::MAX_FUNC_SLOTS - 1,
            shape.advice_columns()
        ));
    }
    Ok(())
}

/// What the key files of a circuit of (k, shape) must contain.
#[derive(Clone, Copy, Debug)]
struct KeyLayout {
    k: u32,
    fixed_columns: usize,
    selectors: usize,
    permutation_columns: usize,
}

impl KeyLayout {
    fn new(k: u32, shape: CircuitShape) -> std::result::Result<KeyLayout, String> {
        check_shape(shape)?;
        if !(1..=MAX_CIRCUIT_K).contains(&k) {
            return Err(format!("k = {k} is outside 1..={MAX_CIRCUIT_K}"));
        }
        let mut cs = ConstraintSystem::<Fr>::default();
        ModelCircuit::configure_with_params(&mut cs, shape);
        Ok(KeyLayout {
            k,
            fixed_columns: cs.num_fixed_columns(),
            selectors: cs.num_selectors(),
            permutation_columns: cs.permutation().get_columns().len(),
        })
    }

    fn n(&self) -> usize {
        1usize << self.k
    }
}

/// A cursor over key bytes that names what is missing.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, len: usize, what: &str) -> std::result::Result<&[u8], String> {
        let end = self.at.checked_add(len).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("truncated: {what} needs {len} bytes at offset {}, the key has {}", self.at, self.bytes.len())
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32_le(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u32_be(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    /// A polynomial of halo2's raw format: a big-endian u32 length, which must
    /// be `n`, then `n` field elements.
    fn polynomial(&mut self, n: usize, what: &str) -> std::result::Result<(), String> {
        let at = self.at;
        let len = self.u32_be(what)? as usize;
        if len != n {
            return Err(format!("{what} has length {len} at offset {at}, the circuit's polynomials have {n}"));
        }
        self.take(n * FR_RAW, what).map(|_| ())
    }

    /// A vector of `count` polynomials (big-endian u32 count first).
    fn polynomials(&mut self, count: usize, n: usize, what: &str) -> std::result::Result<(), String> {
        let at = self.at;
        let got = self.u32_be(what)? as usize;
        if got != count {
            return Err(format!("{got} {what} at offset {at}, the circuit has {count}"));
        }
        (0..count).try_for_each(|i| self.polynomial(n, &format!("{what}[{i}]")))
    }
}

/// Walks the verifying-key part of `bytes` (a vk file, or the start of a pk
/// body) for the circuit of `layout`; returns its length.
fn vk_part(c: &mut Cursor<'_>, l: &KeyLayout) -> std::result::Result<(), String> {
    let version = c.take(1, "version byte")?[0];
    if version != 0x02 {
        return Err(format!("version byte {version:#04x}, halo2-axiom 0.5 keys have 0x02"));
    }
    let k = c.u32_le("k")?;
    if k != l.k {
        return Err(format!("the key is for k = {k}, setup.json says k = {}", l.k));
    }
    let compress = c.take(1, "compress_selectors")?[0];
    if compress > 1 {
        return Err(format!("compress_selectors byte {compress} is not 0 or 1"));
    }
    let fixed = c.u32_le("fixed column count")? as usize;
    // Selectors become fixed columns: one each, or fewer when compressed.
    let allowed = if compress == 1 {
        l.fixed_columns..=l.fixed_columns + l.selectors
    } else {
        l.fixed_columns + l.selectors..=l.fixed_columns + l.selectors
    };
    if !allowed.contains(&fixed) {
        return Err(format!("{fixed} fixed columns, the circuit of this shape has {allowed:?}"));
    }
    c.take(fixed * G1_RAW, "fixed commitments")?;
    c.take(l.permutation_columns * G1_RAW, "permutation commitments")?;
    if compress == 1 {
        c.take(l.selectors * l.n().div_ceil(8), "selectors")?;
    }
    Ok(())
}

/// Length of the verifying key at the start of `bytes` for a circuit of
/// (`k`, `shape`), or why the bytes are not one.
pub fn vk_layout_len(bytes: &[u8], k: u32, shape: CircuitShape) -> std::result::Result<usize, String> {
    let l = KeyLayout::new(k, shape)?;
    let mut c = Cursor { bytes, at: 0 };
    vk_part(&mut c, &l)?;
    Ok(c.at)
}

/// Checks that `body` (a pk file after magic and checksum) is exactly a
/// proving key of halo2's raw format for a circuit of (`k`, `shape`): every
/// count and polynomial length is the circuit's, and nothing follows.
pub fn check_pk_layout(body: &[u8], k: u32, shape: CircuitShape) -> std::result::Result<(), String> {
    let l = KeyLayout::new(k, shape)?;
    let n = l.n();
    let mut c = Cursor { bytes: body, at: 0 };
    vk_part(&mut c, &l)?;
    let fixed = u32::from_le_bytes(body[6..10].try_into().expect("walked")) as usize;
    for what in ["l0", "l_last", "l_active_row"] {
        c.polynomial(n, what)?;
    }
    c.polynomials(fixed, n, "fixed value polynomials")?;
    c.polynomials(fixed, n, "fixed coefficient polynomials")?;
    c.polynomials(l.permutation_columns, n, "permutation polynomials")?;
    c.polynomials(l.permutation_columns, n, "permutation coefficient polynomials")?;
    if c.at != body.len() {
        return Err(format!("{} bytes follow the proving key", body.len() - c.at));
    }
    Ok(())
}

/// Writes a verifying key (raw bytes).
pub fn write_vk(path: &Path, vk: &VerifyingKey<G1Affine>) -> Result<()> {
    std::fs::write(path, vk.to_bytes(SerdeFormat::RawBytes)).map_err(io_err(path))
}

/// Reads a verifying key for a circuit of (`k`, `shape`); every point is checked.
pub fn read_vk(path: &Path, k: u32, shape: CircuitShape) -> Result<VerifyingKey<G1Affine>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    vk_from_bytes(&bytes, k, shape).map_err(|e| CircuitError::Invalid(format!("{}: {e}", path.display())))
}

/// Parses verifying-key bytes for a circuit of (`k`, `shape`), after checking
/// their layout ([`vk_layout_len`]).
pub fn vk_from_bytes(bytes: &[u8], k: u32, shape: CircuitShape) -> std::result::Result<VerifyingKey<G1Affine>, String> {
    let len = vk_layout_len(bytes, k, shape).map_err(|e| format!("not a verifying key of this circuit: {e}"))?;
    if len != bytes.len() {
        return Err(format!("not a verifying key of this circuit: {} bytes follow it", bytes.len() - len));
    }
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

/// The body of a pk file (after magic and checksum), checked: magic,
/// checksum, and the layout of a key for (`k`, `shape`).
pub fn pk_body(bytes: &[u8], k: u32, shape: CircuitShape) -> std::result::Result<&[u8], String> {
    if bytes.len() < 44 || &bytes[..12] != PK_MAGIC {
        return Err("not a zkinfer proving key".into());
    }
    let body = &bytes[44..];
    if Keccak256::digest(body).as_slice() != &bytes[12..44] {
        return Err("checksum mismatch: the proving key is truncated or corrupted; run `zkinfer setup` again".into());
    }
    check_pk_layout(body, k, shape).map_err(|e| format!("not a proving key of this circuit: {e}"))?;
    Ok(body)
}

/// Reads a proving key written by [`write_pk`] for a circuit of (`k`, `shape`).
pub fn read_pk(path: &Path, k: u32, shape: CircuitShape) -> Result<ProvingKey<G1Affine>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |what: &str| CircuitError::Invalid(format!("{}: {what}", path.display()));
    let body = pk_body(&bytes, k, shape).map_err(|e| bad(&e))?;
    // The layout is checked; the values are not (the per-point curve checks
    // dominate load time): a key with the right layout but wrong values makes
    // proofs that do not verify, nothing worse.
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        ProvingKey::<G1Affine>::from_bytes::<ModelCircuit>(body, SerdeFormat::RawBytesUnchecked, shape)
    }));
    match parsed {
        Ok(Ok(pk)) => Ok(pk),
        _ => Err(bad("not a proving key of this circuit (was the model recompiled after setup?)")),
    }
}
