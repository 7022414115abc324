//! Wiring ops: no rows. Every output wire is an input wire, listed by the op's
//! [`Wiring::sources`] (the executor gathers by the same list); a constant fill
//! is one pinned wire, and a Concat input at another scale a rescale per element.

use zkinfer_quantize::ops::shape::{Source, Wiring};

use zkinfer_quantize::QOpKind;

use super::{LayerCx, RowsCx};
use crate::error::{CircuitError, Result};
use crate::gadgets::Builder;
use crate::plan::Wire;

pub(crate) fn reshape(cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    Ok(cx.inputs[0].to_vec())
}

pub(crate) fn wiring(b: &mut Builder, cx: &LayerCx<'_>, op: &impl Wiring) -> Result<Vec<Wire>> {
    let sources = op
        .sources(&cx.in_shapes, cx.out_shape)
        .map_err(|e| CircuitError::Invalid(format!("op `{}`: {e}", cx.node())))?;
    let mut fill = None;
    sources
        .into_iter()
        .map(|s| match s {
            Source::In { input, index } => {
                let w = cx.inputs[input][index];
                match op.shift(input) {
                    0 => Ok(w),
                    shift => b.rescale(w, 0, shift, cx.node()),
                }
            }
            Source::Fill => match fill {
                Some(w) => Ok(w),
                None => {
                    let w = b.constant(op.fill() as i128)?;
                    fill = Some(w);
                    Ok(w)
                }
            },
        })
        .collect()
}

/// Rows of a wiring op: none, but a rescale per element of a Concat input at another scale
/// (and one constant row).
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    match &cx.op.kind {
        QOpKind::Concat(c) => (0..cx.in_shapes.len())
            .filter(|&i| c.shifts[i] != 0)
            .map(|i| 2 * cx.in_shapes[i].iter().product::<usize>() as u64)
            .sum(),
        QOpKind::Pad(_) => 1,
        _ => 0,
    }
}
