//! Table functions (Sigmoid, Tanh): the table joins the circuit's function
//! table under a fresh tag; each element is an index decomposition row and a
//! lookup.

use zkinfer_quantize::ops::lookup::Lookup;

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::{FuncTable, Wire};

pub(crate) fn lookup(b: &mut Builder, cx: &LayerCx<'_>, op: &Lookup) -> Result<Vec<Wire>> {
    let half = 1i128 << (cx.model.config.table_bits - 1);
    let tag = b.tables.len() as u64 + 1;
    b.tables.push(FuncTable {
        tag,
        entries: op.table.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as i128 - half, v as i128))).collect(),
    });
    cx.inputs[0].iter().map(|&x| b.lookup(x, op.in_shift, tag, &op.table, half, cx.node())).collect()
}

/// Rows per element: an index decomposition and a lookup.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    2 * cx.outputs()
}
