//! Forged witnesses: the assignment a malicious prover would choose, for
//! soundness tests.
//!
//! An honest [`crate::ModelCircuit`] assigns every wire the integer its plan
//! computed. A forged one assigns whatever field elements an attacker likes:
//! any value for any wire (all of the wire's cells at once), and any value for
//! any single advice cell (one copy of a wire, a range-check limb, an unused
//! slot). The circuit then must reject the proof; MockProver says which
//! constraint did.
//!
//! Unless a limb cell is overridden, the limbs of a `Lin` row are derived from
//! the row's left-hand side as the field element it is (its canonical
//! little-endian bits), exactly as an attacker who wants the row to pass would
//! choose them: a forgery is rejected only if no choice of limbs could save it.
//!
//! Nothing in proving uses this module: a prover that wants to cheat does not
//! need our code, so this is the attacker's view of the circuit made testable.

use std::collections::BTreeMap;

use halo2curves::bn256::Fr;

use crate::circuit::fe;
use crate::plan::{Plan, Wire};

/// A full assignment chosen by the attacker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forgery {
    /// The value of every wire (every cell that holds it), as a field element.
    pub wires: Vec<Fr>,
    /// Single advice cells that differ from their wire's value (or hold a
    /// limb or an unused slot): `(plan row, advice column) → value`. Row `r` of
    /// the plan is circuit row `r + 1`.
    pub cells: BTreeMap<(usize, usize), Fr>,
}

impl Forgery {
    /// The honest assignment of a plan built with a trace; `None` without one.
    pub fn honest(plan: &Plan) -> Option<Forgery> {
        let values = plan.values.as_ref()?;
        Some(Forgery { wires: values.iter().map(|&v| fe(v)).collect(), cells: BTreeMap::new() })
    }

    /// Sets wire `w` to `v` everywhere it is used.
    pub fn set(&mut self, w: Wire, v: Fr) -> &mut Self {
        self.wires[w] = v;
        self
    }

    /// Sets one advice cell of plan row `row`, column `col`, to `v`.
    pub fn set_cell(&mut self, row: usize, col: usize, v: Fr) -> &mut Self {
        self.cells.insert((row, col), v);
        self
    }

    /// The value of wire `w`.
    pub fn get(&self, w: Wire) -> Fr {
        self.wires[w]
    }
}

/// Bits `[bits·j, bits·(j+1))` of `v`'s canonical representation, as a field element.
pub fn limb_of(v: Fr, j: usize, bits: u32) -> Fr {
    use halo2curves::ff::PrimeField;
    let repr = v.to_repr();
    let bytes = repr.as_ref();
    let mut out = 0u64;
    for b in 0..bits as usize {
        let bit = j * bits as usize + b;
        if bit < 256 && (bytes[bit / 8] >> (bit % 8)) & 1 == 1 {
            out |= 1 << b;
        }
    }
    Fr::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limbs_of_small_and_negative_values() {
        let v = Fr::from(0x01_02_03u64);
        assert_eq!([0, 1, 2].map(|j| limb_of(v, j, 8)), [Fr::from(3), Fr::from(2), Fr::from(1)]);
        // -1 = p - 1: its low byte is p's low byte minus one (p = ...f0000001).
        let m = -Fr::from(1);
        assert_eq!(limb_of(m, 0, 8), Fr::from(0x00));
        assert_eq!(limb_of(m, 3, 8), Fr::from(0xf0));
    }
}
