//! Table functions (Sigmoid, Tanh): the table joins the circuit's function
//! table under a fresh tag; each element is an index decomposition row and a
//! lookup. Embeddings: one table per column of the constant, indexed by the
//! integer index itself; each output element is one lookup.

use zkinfer_quantize::ops::lookup::{Embedding, Lookup};

use super::{LayerCx, RowsCx};
use crate::error::{CircuitError, Result};
use crate::gadgets::Builder;
use crate::plan::{FuncTable, Row, Wire};

pub(crate) fn lookup(b: &mut Builder, cx: &LayerCx<'_>, op: &Lookup) -> Result<Vec<Wire>> {
    let base = op.base() as i128;
    let entries: Vec<(i128, i128)> =
        op.table.iter().enumerate().filter_map(|(i, v)| v.map(|v| (base + i as i128, v as i128))).collect();
    let key = share_key(op, cx.scales.0[0], cx.scales.1, b.act_bits);
    let shared = key.as_ref().and_then(|k| b.shared_tables.get(k).copied());
    let tag = match shared.and_then(|tag| merge(&mut b.tables[tag as usize - 1], &entries).then_some(tag)) {
        Some(tag) => tag,
        None => {
            let tag = b.tables.len() as u64 + 1;
            b.tables.push(FuncTable { tag, entries, set: 0 });
            if let Some(k) = key {
                b.shared_tables.entry(k).or_insert(tag);
            }
            tag
        }
    };
    cx.inputs[0].iter().map(|&x| b.lookup(x, op, tag, cx.node())).collect()
}

/// The key under which two table ops share one function table, or `None` for a function
/// with parameters (Elu's α, Gelu's form, Pow's exponent: not in [`Lookup`], so two such
/// tables cannot be told apart).
///
/// Entry `j` of a table is `quantize(f(mid(j) · 2^−s_in), s_out)` within the activation
/// range, with `mid(j)` the middle of bucket `j` of width `2^in_shift`
/// (`zkinfer_quantize::ops::lookup::lookup_table`): a function of the bucket index alone
/// once (f, s_in, s_out, in_shift, act_bits) are fixed. Tables with the same key are
/// restrictions of one function to different windows, so their union is that function on
/// the union of the windows: an input of one op that falls in another's window gets the
/// value its own op would tabulate there (accepting it is completeness, not a forgery), and
/// an input outside every window still fails the lookup. An LSTM's gates (one table per gate
/// and step, 120 in 24 steps) share a handful of tables this way.
pub(crate) fn share_key(op: &Lookup, s_in: i32, s_out: i32, act_bits: u32) -> Option<String> {
    use zkinfer_quantize::ops::lookup::LookupFn::*;
    let parameterless = matches!(
        op.func,
        Sigmoid
            | Tanh
            | Exp
            | Log
            | Sqrt
            | Reciprocal
            | Softplus
            | Softsign
            | Erf
            | Mish
            | Sin
            | Cos
            | Atan
            | HardSwish
    );
    parameterless.then(|| format!("{:?}/{s_in}/{s_out}/{}/{act_bits}", op.func, op.in_shift))
}

/// Adds `entries` to `table` where it lacks their index; false (and `table` unchanged) when
/// an index is in both with different values, which the key rules out (checked anyway).
fn merge(table: &mut FuncTable, entries: &[(i128, i128)]) -> bool {
    let have: std::collections::HashMap<i128, i128> = table.entries.iter().copied().collect();
    if entries.iter().any(|(i, v)| have.get(i).is_some_and(|w| w != v)) {
        return false;
    }
    table.entries.extend(entries.iter().filter(|(i, _)| !have.contains_key(i)));
    table.entries.sort_unstable();
    true
}

/// Rows per element: an index decomposition and a lookup.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    2 * cx.outputs()
}

/// `y[i…, d] = table[index·D + d]`: column `d` of the table is function table `tag_d`
/// (`index → table[index·D + d]` for `index ∈ [0, V)`), and each output element one lookup
/// of its index wire. The lookup pins the output once the index is pinned, and bounds the
/// index to `[0, V)`; the entries are in the activation range (`Embedding::validate`).
pub(crate) fn embedding(b: &mut Builder, cx: &LayerCx<'_>, op: &Embedding) -> Result<Vec<Wire>> {
    let first = b.tables.len() as u64 + 1;
    for d in 0..op.dim {
        let entries = (0..op.vocab).map(|v| (v as i128, op.table[v * op.dim + d] as i128)).collect();
        b.tables.push(FuncTable { tag: first + d as u64, entries, set: 0 });
    }
    let mut out = Vec::with_capacity(cx.inputs[0].len() * op.dim);
    for &i in cx.inputs[0] {
        let row = if b.witness() {
            Some(op.row(b.val(Some(i)) as i64).map_err(|e| CircuitError::Witness(format!("{}: {e}", cx.node())))?)
        } else {
            None
        };
        for d in 0..op.dim {
            let y = b.derived(|_| row.map_or(0, |r| op.table[r * op.dim + d] as i128));
            b.rows.push(Row::func(first + d as u64, i, y));
            out.push(y);
        }
    }
    Ok(out)
}

/// Rows of an embedding: one lookup per output element.
pub(crate) fn embedding_rows(cx: &RowsCx<'_>) -> u64 {
    cx.outputs()
}
