//! Dense, Conv and ConvTranspose: per output, multiply-accumulate rows over the terms that
//! [`Dense::for_each_output`] / [`Conv::for_each_output`] enumerate (the same
//! enumeration the executor uses), then one rescale row and a range check.

use zkinfer_quantize::ops::linear::{Conv, ConvTranspose, Dense, MatMul};

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

/// `y = rescale(Σ x·w + bias, shift)` for each output.
fn accumulate(
    b: &mut Builder,
    cx: &LayerCx<'_>,
    shift: i32,
    each: impl FnOnce(&mut dyn FnMut(usize, i64, &[(usize, i64)])),
) -> Result<Vec<Wire>> {
    let x = cx.inputs[0];
    let mut out = Vec::with_capacity(cx.out_shape.iter().product());
    let mut err = None;
    each(&mut |_, bias, terms| {
        if err.is_some() {
            return;
        }
        let terms: Vec<(Wire, i128)> = terms.iter().map(|&(i, w)| (x[i], w as i128)).collect();
        let acc = b.mac(&terms);
        match b.rescale(acc, bias as i128, shift, cx.node()) {
            Ok(y) => out.push(y),
            Err(e) => err = Some(e),
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

pub(crate) fn dense(b: &mut Builder, cx: &LayerCx<'_>, op: &Dense) -> Result<Vec<Wire>> {
    accumulate(b, cx, op.shift, |f| op.for_each_output(cx.inputs[0].len(), f))
}

pub(crate) fn conv(b: &mut Builder, cx: &LayerCx<'_>, op: &Conv) -> Result<Vec<Wire>> {
    accumulate(b, cx, op.shift, |f| op.for_each_output(cx.in_shapes[0], cx.out_shape, f))
}

pub(crate) fn conv_transpose(b: &mut Builder, cx: &LayerCx<'_>, op: &ConvTranspose) -> Result<Vec<Wire>> {
    accumulate(b, cx, op.shift, |f| op.for_each_output(cx.in_shapes[0], cx.out_shape, f))
}

/// `y = rescale(Σ_t a·b, shift)` for each output of a MatMul of two activations: per
/// output, dot-product rows over the pairs [`MatMul::for_each_output`] enumerates (the
/// executor's walk), then one rescale row and a range check.
pub(crate) fn matmul(b: &mut Builder, cx: &LayerCx<'_>, op: &MatMul) -> Result<Vec<Wire>> {
    let (x, y) = (cx.inputs[0], cx.inputs[1]);
    let mut out = Vec::with_capacity(cx.out_shape.iter().product());
    let mut err = None;
    op.for_each_output(cx.in_shapes[0], cx.in_shapes[1], cx.out_shape, |_, terms| {
        if err.is_some() {
            return;
        }
        let pairs: Vec<(Wire, Wire)> = terms.iter().map(|&(i, j)| (x[i], y[j])).collect();
        match b.dot(&pairs).and_then(|acc| b.rescale(acc, 0, op.shift, cx.node())) {
            Ok(v) => out.push(v),
            Err(e) => err = Some(e),
        }
    })
    .map_err(|e| crate::error::CircuitError::Invalid(format!("op `{}` (MatMul): {e}", cx.node())))?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Rows of a MatMul of two activations: per output, its dot-product rows (`width / 2`
/// products each) and a rescale with its range check.
pub(crate) fn matmul_rows(cx: &RowsCx<'_>) -> u64 {
    let k = MatMul::geometry(cx.in_shapes[0], cx.in_shapes[1], cx.out_shape).map_or(1, |g| g.k as u64);
    cx.outputs() * (mac_rows(k, cx.width / 2) + 2)
}

/// Multiply-accumulate rows of an accumulation of `terms` products.
pub(crate) fn mac_rows(terms: u64, width: u64) -> u64 {
    terms.div_ceil(width.max(1)).max(1)
}

/// Rows of Dense, Conv or ConvTranspose (an upper bound for padded convolutions): per output,
/// its multiply-accumulate rows and a rescale with its range check.
pub(crate) fn rows(cx: &RowsCx<'_>, terms_per_output: u64) -> u64 {
    cx.outputs() * (mac_rows(terms_per_output, cx.width) + 2)
}
