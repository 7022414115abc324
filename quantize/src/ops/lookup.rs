//! Non-linear functions by table: `Sigmoid`, `Tanh`.
//!
//! The input's top `table_bits` bits index a table of `2^table_bits` outputs
//! (each the function at its bucket's midpoint); the circuit proves the index
//! by a decomposition row and the output by a lookup
//! (`circuits/src/layers/lookup.rs`).

use serde::{Deserialize, Serialize};

use super::activation::same_shape;
use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{floor_shift, quantize_value};
use crate::onnx::Node;

/// The function of a [`Lookup`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupFn {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl LookupFn {
    /// The function on floats.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            LookupFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            LookupFn::Tanh => x.tanh(),
        }
    }
}

/// Float `f(x)`.
#[derive(Clone, Debug)]
pub struct FloatLookup {
    /// The function.
    pub func: LookupFn,
}

/// `y = table[⌊x / 2^in_shift⌋ + 2^(table_bits-1)]`: the table covers the whole activation range,
/// each entry the function at its bucket's midpoint, rounded at the output scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// The function tabulated.
    pub func: LookupFn,
    /// `act_bits - table_bits` (≥ 0).
    pub in_shift: u32,
    /// `2^table_bits` outputs, for indices `-2^(table_bits-1) ..`.
    pub table: Vec<i64>,
}

impl FloatOp for FloatLookup {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        // Both functions are bounded by 1 in magnitude: no input can overflow the output.
        let s_out = cx.act_scale(1.0);
        let c = cx.config;
        let in_shift = c.act_bits - c.table_bits;
        let table = lookup_table(self.func, cx.s_in[0], s_out, in_shift, c.table_bits);
        Ok((QOpKind::Lookup(Lookup { func: self.func, in_shift, table }), s_out))
    }
}

impl QuantizedOp for Lookup {
    const NAME: &'static str = "lookup";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.table.len() != 1usize << cx.config.table_bits {
            return Err("table length".into());
        }
        let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
        if let Some(v) = self.table.iter().find(|&&v| (v as i128) < lo || (v as i128) > hi) {
            return Err(format!("table entry {v} is outside the {}-bit activation range", cx.config.act_bits));
        }
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let offset = 1i128 << (cx.config.table_bits - 1);
        cx.inputs[0]
            .iter()
            .map(|&v| {
                let idx = floor_shift(v as i128, self.in_shift) + offset;
                self.table.get(idx as usize).map(|&t| t as i128).ok_or_else(|| format!("table index {idx}"))
            })
            .collect()
    }
}

/// The table of a [`Lookup`]: entry `i + 2^(T-1)` is `f` at the midpoint of the
/// bucket `[i·2^d, (i+1)·2^d - 1]` (input scale `s_in`), quantized at `s_out`.
pub fn lookup_table(func: LookupFn, s_in: i32, s_out: i32, in_shift: u32, table_bits: u32) -> Vec<i64> {
    let half = 1i64 << (table_bits - 1);
    let width = 1i64 << in_shift;
    (-half..half)
        .map(|i| {
            let mid = (i * width) as f64 + (width - 1) as f64 / 2.0;
            quantize_value(func.eval(mid * (-s_in as f64).exp2()), s_out)
        })
        .collect()
}

pub(crate) fn import_lookup(node: &Node<'_>) -> Result<Imported> {
    let func = match node.op {
        "Sigmoid" => LookupFn::Sigmoid,
        "Tanh" => LookupFn::Tanh,
        other => return Err(node.unsup(format!("no table for `{other}`"))),
    };
    Ok(Imported::Op(FloatOpKind::Lookup(FloatLookup { func })))
}
