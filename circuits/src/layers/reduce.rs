//! Reductions: per group of [`Reduce::groups`], a sum (multiply-accumulate
//! rows, then a rescale or a rounded division) or a chain of comparisons; the
//! index of an extremum ([`ArgMax`]) as a running extremum that carries its
//! index along.

use zkinfer_quantize::ops::reduce::{ArgMax, Reduce, ReduceKind};

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

/// The index of each group's extremum, for a group `x_0 … x_{n−1}` (B activation bits): a
/// running extremum `m` and its index `k`, from `m = x_0`, `k = 0`, and for each `j ≥ 1`
/// - `d = x_j − m` (exact row);
/// - the bit `b = [±d − t ≥ 0]` (`+` for a maximum; `t = 1` for the first index among ties,
///   so that an equal element does not move the index, `t = 0` for the last) by the sign row
///   `±d − t + (1 − b)·2^B ∈ [0, 2^B)`, `b` boolean through the selects;
/// - `m ← m + b·d` and `k ← k + b·(j − k)` (an exact row for `j − k`, two selects).
///
/// Every wire is pinned by the lint's local rules: `d` exactly, `b` by mixed radix (its
/// coefficient `2^B` exceeds the remainder's span), the selects exactly. The output is `k`.
/// Five rows per element after the first.
pub(crate) fn arg_max(b: &mut Builder, cx: &LayerCx<'_>, op: &ArgMax) -> Result<Vec<Wire>> {
    let x = cx.inputs[0];
    let zero = b.zero()?;
    let sign = if op.largest { 1 } else { -1 };
    let strict = i128::from(!op.last);
    let two_b = 1i128 << b.act_bits;
    op.groups(cx.in_shapes[0])
        .into_iter()
        .map(|g| {
            let (mut m, mut k) = (x[g[0]], zero);
            for (j, &i) in g.iter().enumerate().skip(1) {
                let xj = x[i];
                let d = b.derived(|s| s.val(Some(xj)) - s.val(Some(m)));
                b.lin([Some(xj), Some(m), Some(d)], [1, -1, -1], 0, 0, 0, cx.node())?;
                let bit = b.derived(|s| i128::from(sign * s.val(Some(d)) - strict >= 0));
                b.lin([Some(d), Some(bit), None], [sign, -two_b, 0], 0, two_b - strict, b.act_bits, cx.node())?;
                m = b.select(m, d, bit);
                let dk = b.derived(|s| j as i128 - s.val(Some(k)));
                b.lin([Some(k), None, Some(dk)], [-1, 0, -1], 0, j as i128, 0, cx.node())?;
                k = b.select(k, dk, bit);
            }
            Ok(k)
        })
        .collect()
}

/// Rows of an [`ArgMax`]: five per element of a group after its first.
pub(crate) fn arg_max_rows(cx: &RowsCx<'_>) -> u64 {
    let inputs: u64 = cx.in_shapes[0].iter().product::<usize>() as u64;
    let n = cx.outputs().max(1);
    n * 5 * (inputs / n).saturating_sub(1)
}
