//! The EVM forms of the statement's values, on top of
//! [`zkinfer_circuits::encoding`] (re-exported here, so that the chain side
//! imports every encoding from one module).
//!
//! A field element is a `uint256` below `r` (big-endian, as the contracts and
//! the verifier read calldata); a signed fixed-point value `q` is the `uint256`
//! of `q mod r`; the binding is `uint256(keccak256(abi.encodePacked(jobId, prover))) % r`.

use alloy::primitives::{Address, U256};
use halo2curves::bn256::Fr;
pub use zkinfer_circuits::encoding::*;

use crate::error::{Result, VerifierError};

/// The binding element of (job id, prover) as the contract computes it.
pub fn binding(job_id: U256, prover: Address) -> Fr {
    binding_for(&job_id.to_be_bytes::<32>(), &prover.0.0)
}

/// A field element as the EVM's uint256.
pub fn fr_to_u256(x: &Fr) -> U256 {
    U256::from_be_bytes(fr_to_be_bytes(x))
}

/// A uint256 as a field element; an error when it is not below r.
pub fn u256_to_fr(x: U256) -> Result<Fr> {
    fr_from_be_bytes(&x.to_be_bytes::<32>())
        .ok_or_else(|| VerifierError::Invalid(format!("{x} is not below the BN254 scalar field modulus")))
}

/// A signed fixed-point value as the EVM's uint256 (`q mod r`).
pub fn int_to_u256(q: i64) -> U256 {
    fr_to_u256(&fr_from_int(q as i128))
}

/// The signed fixed-point value of a uint256: an error when it is not below r,
/// or is the field element of no `i64` (see [`fr_to_i64`]).
pub fn u256_to_int(x: U256) -> Result<i64> {
    let f = u256_to_fr(x)?;
    fr_to_i64(&f).ok_or_else(|| VerifierError::Invalid(format!("{x} is not the field element of a 64-bit integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint256_forms_agree_with_the_hex_forms() {
        for q in [0i64, 1, -1, 4095, -4096, i64::MAX, -i64::MAX] {
            let u = int_to_u256(q);
            assert_eq!(u256_to_int(u).unwrap(), q);
            assert_eq!(format!("{u:#066x}"), fr_to_hex(&fr_from_int(q as i128)));
        }
        let r_minus_1 = int_to_u256(-1);
        assert!(u256_to_fr(r_minus_1 + U256::from(1)).is_err(), "r is not a field element");
        assert!(u256_to_fr(U256::MAX).is_err());
        let e = u256_to_int(U256::from(1u128 << 64)).unwrap_err().to_string();
        assert!(e.contains("not the field element of a 64-bit integer"), "{e}");
        assert!(u256_to_int(r_minus_1 - U256::from(u64::MAX)).is_err(), "-(2^64 - 1) is no i64");
    }
}
