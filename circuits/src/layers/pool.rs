//! Pooling: averages are a sum and a rounded division (`div_round`, with a
//! range-checked remainder and output); maxima a chain of `max` gadgets over
//! the window's in-bounds inputs, in the order [`Window::for_each`] gives.
//!
//! [`Window::for_each`]: zkinfer_quantize::ops::pool::Window::for_each

use zkinfer_quantize::ops::pool::{AvgPool, GlobalAvgPool, MaxPool};

use zkinfer_quantize::QOpKind;

use super::{LayerCx, RowsCx};
use crate::error::{CircuitError, Result};
use crate::gadgets::Builder;
use crate::plan::Wire;

pub(crate) fn avg_pool(b: &mut Builder, cx: &LayerCx<'_>, op: &AvgPool) -> Result<Vec<Wire>> {
    let x = cx.inputs[0];
    let mut windows = vec![];
    op.for_each(cx.in_shapes[0], cx.out_shape, |idx, count| windows.push((idx.to_vec(), count)));
    windows
        .into_iter()
        .map(|(idx, count)| {
            let terms: Vec<(Wire, i128)> = idx.iter().map(|&i| (x[i], 1)).collect();
            let acc = b.mac(&terms);
            b.div_round(acc, count as i128, cx.node())
        })
        .collect()
}

pub(crate) fn max_pool(b: &mut Builder, cx: &LayerCx<'_>, op: &MaxPool) -> Result<Vec<Wire>> {
    let x = cx.inputs[0];
    let mut windows = vec![];
    op.window.for_each(cx.in_shapes[0], cx.out_shape, |idx, _| windows.push(idx.to_vec()));
    windows
        .into_iter()
        .map(|idx| {
            let (&first, rest) = idx.split_first().ok_or_else(|| {
                CircuitError::Witness(format!("op `{}`: a max-pool window lies entirely in the padding", cx.node()))
            })?;
            let mut m = x[first];
            for &i in rest {
                m = b.max(m, x[i])?;
            }
            Ok(m)
        })
        .collect()
}

pub(crate) fn global_avg_pool(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    let hw = GlobalAvgPool::window_len(cx.in_shapes[0]);
    cx.inputs[0]
        .chunks(hw)
        .map(|ch| {
            let terms: Vec<(Wire, i128)> = ch.iter().map(|&w| (w, 1)).collect();
            let acc = b.mac(&terms);
            b.div_round(acc, hw as i128, cx.node())
        })
        .collect()
}

/// Rows of pooling: an average is its window's accumulation and a rounded division (3–4
/// rows); a maximum 3 rows per comparison.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    let n = cx.outputs();
    let window = |w: &zkinfer_quantize::Window| w.kernel.iter().product::<usize>() as u64;
    match &cx.op.kind {
        QOpKind::AvgPool(p) => n * (super::linear::mac_rows(window(&p.window), cx.width) + 4),
        QOpKind::MaxPool(p) => n * 3 * window(&p.window).saturating_sub(1),
        _ => n * (super::linear::mac_rows(GlobalAvgPool::window_len(cx.in_shapes[0]) as u64, cx.width) + 4),
    }
}
