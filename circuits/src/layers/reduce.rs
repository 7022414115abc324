//! Reductions: per group of [`Reduce::groups`], a sum (multiply-accumulate
//! rows, then a rescale or a rounded division) or a chain of comparisons.

use zkinfer_quantize::ops::reduce::{Reduce, ReduceKind};

use super::LayerCx;
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
