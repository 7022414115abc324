//! Every text and byte encoding of the values a proof is about, in one place.
//!
//! | value | text form (JSON, gRPC, CLI) | EVM form |
//! |---|---|---|
//! | field element (an instance, the binding) | `0x` + 64 hex digits, big-endian ([`fr_to_hex`]) | `uint256` ([`fr_to_be_bytes`]) |
//! | signed fixed-point value `q` (an input or output) | the field element `q mod r` ([`fr_from_int`]); negative values are `r − \|q\|` | `uint256` |
//! | bytes (a proof, a job id, an address, a model id) | `0x` + hex ([`to_hex`]) | `bytes`, `bytes32`, `address` |
//!
//! Writers always write the `0x`; readers take it or leave it ([`strip_0x`]).
//! Readers reject, with a message naming the value: non-hex digits, too many
//! digits, and field elements that are not below the BN254 scalar field modulus
//! `r` (a value `≥ r` would alias `value − r` and make two encodings of one statement).
//! `zkinfer-verifier`'s `encoding` module adds the alloy `U256`/`Address` forms of
//! the same values on top of this one.

use halo2curves::bn256::Fr;
use halo2curves::ff::{FromUniformBytes, PrimeField};
use sha3::{Digest, Keccak256};

use crate::error::{CircuitError, Result};

/// `s` without a leading `0x` (or `0X`).
pub fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s)
}

/// `0x` + the lower-case hex of `bytes`.
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes.as_ref()))
}

/// The bytes of hex text (`0x` optional, surrounding white space ignored);
/// the error names `what`.
pub fn hex_decode(s: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(strip_0x(s.trim())).map_err(|e| CircuitError::Invalid(format!("{what} is not hex: {e}")))
}

/// Exactly `N` bytes from hex text of at most `2N` digits (`0x` optional,
/// shorter text is zero-padded on the left, as a number: `0x1` is 31 zero bytes and a 1).
pub fn hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let digits = strip_0x(s);
    if digits.len() > 2 * N {
        return Err(CircuitError::Invalid(format!("{what} `{s}` is longer than {N} bytes")));
    }
    let padded = format!("{digits:0>width$}", width = 2 * N);
    let mut out = [0u8; N];
    hex::decode_to_slice(&padded, &mut out).map_err(|_| CircuitError::Invalid(format!("{what} `{s}` is not hex")))?;
    Ok(out)
}

/// A field element's 32 big-endian bytes (the EVM's `uint256`).
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut b: [u8; 32] = x.to_repr();
    b.reverse();
    b
}

/// The field element of 32 big-endian bytes; `None` when they are not below `r`.
pub fn fr_from_be_bytes(be: &[u8; 32]) -> Option<Fr> {
    let mut le = *be;
    le.reverse();
    Option::from(Fr::from_repr(le))
}

/// A field element as `0x` + 64 hex digits, big-endian (the EVM's uint256 form).
pub fn fr_to_hex(x: &Fr) -> String {
    to_hex(fr_to_be_bytes(x))
}

/// Parses [`fr_to_hex`]'s form (the `0x` is optional, fewer digits are zero-padded);
/// rejects values that are not below the field modulus.
pub fn fr_from_hex(s: &str) -> Result<Fr> {
    let digits = strip_0x(s);
    if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(CircuitError::Invalid(format!("`{s}` is not a hex field element (at most 64 hex digits)")));
    }
    let be = hex_array::<32>(digits, "field element")?;
    fr_from_be_bytes(&be)
        .ok_or_else(|| CircuitError::Invalid(format!("`{s}` is not below the BN254 scalar field modulus")))
}

/// The field element of a signed integer: `v mod r` (a negative `v` is `r − |v|`).
pub fn fr_from_int(v: i128) -> Fr {
    let m = v.unsigned_abs();
    let f = Fr::from_raw([m as u64, (m >> 64) as u64, 0, 0]);
    if v >= 0 { f } else { -f }
}

/// The signed integer whose field element is `x` ([`fr_from_int`]'s inverse on
/// `i64`): `None` when neither `x` nor `−x` is below 2^63 (a value no
/// fixed-point tensor holds).
pub fn fr_to_i64(x: &Fr) -> Option<i64> {
    let small = |f: &Fr| -> Option<u64> {
        let le = f.to_repr();
        let le = le.as_ref();
        if le[8..].iter().any(|&b| b != 0) {
            return None;
        }
        let v = u64::from_le_bytes(le[..8].try_into().expect("8 bytes"));
        (v < 1 << 63).then_some(v)
    };
    if let Some(v) = small(x) {
        return Some(v as i64);
    }
    // -v for 0 < v <= 2^63 - 1 (i64::MIN's field element is not reached: its magnitude is 2^63).
    small(&-*x).map(|v| -(v as i64))
}

/// The binding element of a (job, prover) pair: `keccak256(job_id ‖ prover) mod r`,
/// with the job id as 32 big-endian bytes and the prover's 20-byte address, exactly
/// as Solidity's `uint256(keccak256(abi.encodePacked(jobId, prover))) % r`.
pub fn binding_for(job_id: &[u8; 32], prover: &[u8; 20]) -> Fr {
    let mut h = Keccak256::new();
    h.update(job_id);
    h.update(prover);
    let be: [u8; 32] = h.finalize().into();
    let mut wide = [0u8; 64];
    for (i, b) in be.iter().rev().enumerate() {
        wide[i] = *b;
    }
    Fr::from_uniform_bytes(&wide)
}

#[cfg(test)]
mod tests {
    use halo2curves::ff::Field;

    use super::*;

    /// r − 1, the largest field element, big-endian hex.
    const R_MINUS_1: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000";
    /// r itself: not a field element.
    const R: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";

    #[test]
    fn field_elements_round_trip_and_reject_r_and_above() {
        for v in [0i128, 1, -1, 255, -256, i64::MAX as i128, -(i64::MAX as i128), 1 << 100] {
            let x = fr_from_int(v);
            assert_eq!(fr_from_hex(&fr_to_hex(&x)).unwrap(), x);
            assert_eq!(fr_from_be_bytes(&fr_to_be_bytes(&x)), Some(x));
        }
        assert_eq!(fr_to_hex(&fr_from_int(-1)), R_MINUS_1);
        assert_eq!(fr_from_hex("1").unwrap(), Fr::ONE);
        assert_eq!(fr_from_hex("0X01").unwrap(), Fr::ONE);
        for bad in [R, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "", "0x", "0xg1"] {
            assert!(fr_from_hex(bad).is_err(), "{bad}");
        }
        assert!(fr_from_hex(&format!("0x0{}", &R_MINUS_1[2..])).is_err(), "65 digits");
    }

    #[test]
    fn signed_values_decode_only_when_they_fit_i64() {
        for v in [0i64, 1, -1, 4095, -4096, i64::MAX, -i64::MAX] {
            assert_eq!(fr_to_i64(&fr_from_int(v as i128)), Some(v), "{v}");
        }
        // 2^63 and -2^63 have no i64 form here; nor has a huge wrap-around value.
        assert_eq!(fr_to_i64(&fr_from_int(1 << 63)), None);
        assert_eq!(fr_to_i64(&fr_from_int(-(1 << 63))), None);
        assert_eq!(fr_to_i64(&fr_from_hex("0x1000000000000000000000000000000000").unwrap()), None);
        assert_eq!(fr_to_i64(&fr_from_hex(R_MINUS_1).unwrap()), Some(-1));
    }

    #[test]
    fn byte_arrays_pad_like_numbers_and_name_the_value() {
        assert_eq!(hex_array::<4>("0x1", "id").unwrap(), [0, 0, 0, 1]);
        assert_eq!(hex_array::<4>("deadbeef", "id").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        assert!(hex_array::<4>("0x0deadbeef", "id").unwrap_err().to_string().contains("id `0x0deadbeef` is longer"));
        assert!(hex_array::<4>("zz", "--prover").unwrap_err().to_string().contains("--prover `zz` is not hex"));
        assert_eq!(hex_decode(" 0xabcd\n", "proof").unwrap(), [0xab, 0xcd]);
        assert!(hex_decode("0xabc", "proof").unwrap_err().to_string().contains("proof is not hex"));
        assert_eq!(to_hex([1, 0xff]), "0x01ff");
    }
}
