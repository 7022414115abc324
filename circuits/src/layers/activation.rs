//! Relu, LeakyRelu, PRelu, Clip, Abs, Sign: sign bits and selects.

use zkinfer_quantize::ops::activation::{Clip, LeakyRelu, PRelu};

use zkinfer_quantize::QOpKind;

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

pub(crate) fn relu(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    cx.inputs[0].iter().map(|&x| b.relu(x)).collect()
}

pub(crate) fn leaky_relu(b: &mut Builder, cx: &LayerCx<'_>, op: &LeakyRelu) -> Result<Vec<Wire>> {
    cx.inputs[0].iter().map(|&x| b.leaky_relu(x, op.alpha as i128, op.alpha_scale_bits, cx.node())).collect()
}

pub(crate) fn prelu(b: &mut Builder, cx: &LayerCx<'_>, op: &PRelu) -> Result<Vec<Wire>> {
    let idx = op.slope.index_map(cx.out_shape);
    cx.inputs[0]
        .iter()
        .zip(idx)
        .map(|(&x, i)| b.leaky_relu(x, op.slope.values[i] as i128, op.slope_scale_bits, cx.node()))
        .collect()
}

/// `min(max(rescale(x), lo), hi)`: comparisons with constant wires.
pub(crate) fn clip(b: &mut Builder, cx: &LayerCx<'_>, op: &Clip) -> Result<Vec<Wire>> {
    let lo = op.lo.map(|v| b.constant(v as i128)).transpose()?;
    let hi = op.hi.map(|v| b.constant(v as i128)).transpose()?;
    cx.inputs[0]
        .iter()
        .map(|&x| {
            let x = if op.shift == 0 { x } else { b.rescale(x, 0, op.shift, cx.node())? };
            let y = match lo {
                Some(l) => b.max(l, x)?,
                None => x,
            };
            match hi {
                Some(h) => b.min(y, h),
                None => Ok(y),
            }
        })
        .collect()
}

/// `|x| = max(−x, x)`.
pub(crate) fn abs(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    cx.inputs[0]
        .iter()
        .map(|&x| {
            let n = b.neg(x)?;
            b.max(n, x)
        })
        .collect()
}

/// `sign(x) = [x ≥ 0] − [−x ≥ 0]`, both bits boolean.
pub(crate) fn sign(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    let bits = b.act_bits;
    cx.inputs[0]
        .iter()
        .map(|&x| {
            let p = b.sign(x, bits)?;
            b.boolean(p)?;
            let n = b.neg(x)?;
            let q = b.sign(n, bits + 1)?;
            b.boolean(q)?;
            b.combine([Some(p), Some(q)], [1, -1], 0, 0, 0, cx.node())
        })
        .collect()
}

/// Rows per element: Relu 2 (sign, select); LeakyRelu and PRelu 6 (the rescaled branch, a
/// sign, a difference, a select, and a range check for slopes above 1); Clip 3–4 per bound;
/// Abs 4; Sign 7.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    let per = match &cx.op.kind {
        QOpKind::Relu(_) => 2,
        QOpKind::LeakyRelu(_) | QOpKind::PRelu(_) => 6,
        QOpKind::Clip(c) => 3 * c.lo.is_some() as u64 + 4 * c.hi.is_some() as u64 + 2 * (c.shift != 0) as u64,
        QOpKind::Abs(_) => 4,
        _ => 7,
    };
    per * cx.outputs()
}
