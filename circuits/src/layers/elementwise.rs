//! Add, Mul, Affine, Sum, Extremum: one `combine` (a linear row with a product term and a
//! rescale, then a range check) per output element.

use std::collections::HashMap;

use zkinfer_quantize::ops::elementwise::{Add, Affine, Extremum, Mul, Sum, broadcast_index, broadcast_operands};

use zkinfer_quantize::QOpKind;

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

/// For each output element, the input wires of both operands (broadcast).
fn operands(cx: &LayerCx<'_>) -> Vec<(Wire, Wire)> {
    let ia = broadcast_index(cx.in_shapes[0], cx.out_shape);
    let ib = broadcast_index(cx.in_shapes[1], cx.out_shape);
    ia.iter().zip(&ib).map(|(&i, &j)| (cx.inputs[0][i], cx.inputs[1][j])).collect()
}

pub(crate) fn add(b: &mut Builder, cx: &LayerCx<'_>, op: &Add) -> Result<Vec<Wire>> {
    let sign = if op.sub { -1 } else { 1 };
    let (ca, cb) = (1i128 << op.a_shift, sign << op.b_shift);
    operands(cx).into_iter().map(|(x, y)| b.combine([Some(x), Some(y)], [ca, cb], 0, 0, op.shift, cx.node())).collect()
}

pub(crate) fn mul(b: &mut Builder, cx: &LayerCx<'_>, op: &Mul) -> Result<Vec<Wire>> {
    operands(cx).into_iter().map(|(x, y)| b.combine([Some(x), Some(y)], [0, 0], 1, 0, op.shift, cx.node())).collect()
}

pub(crate) fn affine(b: &mut Builder, cx: &LayerCx<'_>, op: &Affine) -> Result<Vec<Wire>> {
    let mi = op.mul.as_ref().map(|c| c.index_map(cx.out_shape));
    let ai = op.add.as_ref().map(|c| c.index_map(cx.out_shape));
    (0..cx.out_shape.iter().product::<usize>())
        .map(|i| {
            let m = match (&op.mul, &mi) {
                (Some(c), Some(idx)) => c.values[idx[i]] as i128,
                _ => 1,
            };
            let a = match (&op.add, &ai) {
                (Some(c), Some(idx)) => c.values[idx[i]] as i128,
                _ => 0,
            };
            b.combine([Some(cx.inputs[0][i]), None], [m, 0], 0, a, op.shift, cx.node())
        })
        .collect()
}

/// `rescale(Σ x_i·2^a_i, shift)` or the rounded mean: one accumulation per output.
pub(crate) fn sum(b: &mut Builder, cx: &LayerCx<'_>, op: &Sum) -> Result<Vec<Wire>> {
    let idx = broadcast_operands(&cx.in_shapes, cx.out_shape);
    (0..cx.out_shape.iter().product::<usize>())
        .map(|o| {
            let terms: Vec<(Wire, i128)> =
                (0..cx.inputs.len()).map(|i| (cx.inputs[i][idx[i][o]], 1i128 << op.a_shifts[i])).collect();
            let acc = b.mac(&terms);
            if op.mean {
                b.div_round(acc, cx.inputs.len() as i128, cx.node())
            } else {
                b.rescale(acc, 0, op.shift, cx.node())
            }
        })
        .collect()
}

/// Max or min over the inputs (each rescaled once to the common scale).
pub(crate) fn extremum(b: &mut Builder, cx: &LayerCx<'_>, op: &Extremum) -> Result<Vec<Wire>> {
    let idx = broadcast_operands(&cx.in_shapes, cx.out_shape);
    let mut scaled: HashMap<(usize, usize), Wire> = HashMap::new();
    let mut operand = |b: &mut Builder, i: usize, j: usize| -> Result<Wire> {
        if op.shifts[i] == 0 {
            return Ok(cx.inputs[i][j]);
        }
        if let Some(&w) = scaled.get(&(i, j)) {
            return Ok(w);
        }
        let w = b.rescale(cx.inputs[i][j], 0, op.shifts[i], cx.node())?;
        scaled.insert((i, j), w);
        Ok(w)
    };
    (0..cx.out_shape.iter().product::<usize>())
        .map(|o| {
            let mut m = operand(b, 0, idx[0][o])?;
            for (i, ix) in idx.iter().enumerate().skip(1) {
                let v = operand(b, i, ix[o])?;
                m = if op.min { b.min(m, v)? } else { b.max(m, v)? };
            }
            Ok(m)
        })
        .collect()
}

/// Rows of Add, Mul, Affine (a combine and a range check per element), Sum (an accumulation
/// and a rescale or division) and Extremum (comparisons, and rescales of inputs at other scales).
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    let n = cx.outputs();
    let k = cx.in_shapes.len() as u64;
    match &cx.op.kind {
        QOpKind::Sum(_) => n * (super::linear::mac_rows(k, cx.width) + 4),
        QOpKind::Extremum(e) => {
            let rescaled: u64 = (0..cx.in_shapes.len())
                .filter(|&i| e.shifts[i] != 0)
                .map(|i| 2 * cx.in_shapes[i].iter().product::<usize>() as u64)
                .sum();
            n * 4 * k.saturating_sub(1) + rescaled
        }
        _ => 2 * n,
    }
}
