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
    let tag = b.tables.len() as u64 + 1;
    b.tables.push(FuncTable {
        tag,
        entries: op.table.iter().enumerate().filter_map(|(i, v)| v.map(|v| (base + i as i128, v as i128))).collect(),
    });
    cx.inputs[0].iter().map(|&x| b.lookup(x, op, tag, cx.node())).collect()
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
        b.tables.push(FuncTable { tag: first + d as u64, entries });
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
            b.rows.push(Row::Func { tag: first + d as u64, i, y });
            out.push(y);
        }
    }
    Ok(out)
}

/// Rows of an embedding: one lookup per output element.
pub(crate) fn embedding_rows(cx: &RowsCx<'_>) -> u64 {
    cx.outputs()
}
