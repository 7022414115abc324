//! Reductions: per group of [`Reduce::groups`], a sum (multiply-accumulate
//! rows, then a rescale or a rounded division) or a chain of comparisons.

use zkinfer_quantize::ops::reduce::{Reduce, ReduceKind};

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

pub(crate) fn reduce(b: &mut Builder, cx: &LayerCx<'_>, op: &Reduce) -> Result<Vec<Wire>> {
    let x = cx.inputs[0];
    op.groups(cx.in_shapes[0])
        .into_iter()
        .map(|g| match op.kind {
            ReduceKind::Sum | ReduceKind::Mean => {
                let terms: Vec<(Wire, i128)> = g.iter().map(|&i| (x[i], 1)).collect();
                let acc = b.mac(&terms);
                if op.kind == ReduceKind::Sum {
                    b.rescale(acc, 0, op.shift, cx.node())
                } else {
                    b.div_round(acc, g.len() as i128, cx.node())
                }
            }
            ReduceKind::Max | ReduceKind::Min => {
                let mut m = x[g[0]];
                for &i in &g[1..] {
                    m = if op.kind == ReduceKind::Max { b.max(m, x[i])? } else { b.min(m, x[i])? };
                }
                Ok(m)
            }
        })
        .collect()
}

/// Rows of a reduction: per output, an accumulation and a rescale or division, or a chain of
/// comparisons (3 rows each for a maximum, 4 for a minimum).
pub(crate) fn rows(cx: &RowsCx<'_>, op: &Reduce) -> u64 {
    let inputs: u64 = cx.in_shapes[0].iter().product::<usize>() as u64;
    let n = cx.outputs().max(1);
    let group = inputs / n;
    n * match op.kind {
        ReduceKind::Sum | ReduceKind::Mean => super::linear::mac_rows(group, cx.width) + 4,
        ReduceKind::Max => 3 * group.saturating_sub(1),
        ReduceKind::Min => 4 * group.saturating_sub(1),
    }
}
