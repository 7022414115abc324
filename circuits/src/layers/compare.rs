//! Comparisons and Where.
//!
//! A comparison bit `b = [d ≥ 0]` of a difference `d` (`|d| < 2^(n−1)`) is one `Lin` row,
//! `d + (1 − b)·2^(n−1) ∈ [0, 2^(n−1))` (so `b = 1` exactly when `d ≥ 0`), and one boolean
//! row (without it a field element `b = 1 + (d − r)/2^(n−1)` would satisfy the range row).
//! `a < b` is `b − a − 1 ≥ 0`, `a ≤ b` is `b − a ≥ 0`; `a == b` is `[a − b ≥ 0]·[b − a ≥ 0]`,
//! the product in a select row. Where is `y = Y + c·(X − Y)` in a select row (whose gate
//! makes `c` boolean); with a constant condition it is wiring.

use std::collections::HashMap;

use zkinfer_quantize::QOpKind;
use zkinfer_quantize::ops::compare::{Branch, CmpOp, Compare, Where};
use zkinfer_quantize::ops::elementwise::broadcast_index;

use super::{LayerCx, RowsCx};
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

/// `[c0·a0 + c1·a1 + cc ≥ 0]` for a sum whose magnitude is below `2^(bits−1)`, boolean.
fn ge_zero(b: &mut Builder, a: [Option<Wire>; 2], c: [i128; 2], cc: i128, bits: u32, node: &str) -> Result<Wire> {
    let value = |s: &Builder| c[0] * s.val(a[0]) + c[1] * s.val(a[1]) + cc;
    let bit = b.derived(|s| i128::from(value(s) >= 0));
    let half = 1i128 << (bits - 1);
    b.lin([a[0], a[1], Some(bit)], [c[0], c[1], -half], 0, cc + half, bits - 1, node)?;
    b.boolean(bit)?;
    Ok(bit)
}

pub(crate) fn compare(b: &mut Builder, cx: &LayerCx<'_>, op: &Compare) -> Result<Vec<Wire>> {
    let n = cx.out_shape.iter().product::<usize>();
    let ia = broadcast_index(cx.in_shapes[0], cx.out_shape);
    let node = cx.node();
    // Each operand as (wire, coefficient) or a constant; the difference's bound.
    let (ib, tv, bits) = match &op.threshold {
        Some(t) => (None, Some((t.index_map(cx.out_shape), &t.values)), b.act_bits + 2),
        None => {
            let sh = op.shifts.iter().copied().max().unwrap_or(0);
            (Some(broadcast_index(cx.in_shapes[1], cx.out_shape)), None, b.act_bits + sh + 2)
        }
    };
    let sa = 1i128 << op.shifts.first().copied().unwrap_or(0);
    (0..n)
        .map(|o| {
            let x = cx.inputs[0][ia[o]];
            // u − v = c0·x + c1·y + k, and v − u its negation.
            let (y, cb, k) = match (&ib, &tv) {
                (Some(ib), _) => (Some(cx.inputs[1][ib[o]]), 1i128 << op.shifts[1], 0),
                (None, Some((ti, tv))) => (None, 0, tv[ti[o]] as i128),
                _ => unreachable!("a comparison has a second operand or a threshold"),
            };
            // d(u − v) ≥ 0 with an offset.
            let diff = |b: &mut Builder, flip: bool, off: i128| {
                let s = if flip { -1 } else { 1 };
                ge_zero(b, [Some(x), y], [s * sa, -s * cb], -s * k + off, bits, node)
            };
            match op.op {
                CmpOp::GreaterOrEqual => diff(b, false, 0),
                CmpOp::Greater => diff(b, false, -1),
                CmpOp::LessOrEqual => diff(b, true, 0),
                CmpOp::Less => diff(b, true, -1),
                CmpOp::Equal => {
                    let ge = diff(b, false, 0)?;
                    let le = diff(b, true, 0)?;
                    let z = b.zero()?;
                    Ok(b.select(z, le, ge))
                }
            }
        })
        .collect()
}

pub(crate) fn where_(b: &mut Builder, cx: &LayerCx<'_>, op: &Where) -> Result<Vec<Wire>> {
    let n = cx.out_shape.iter().product::<usize>();
    let node = cx.node();
    let mut next = 0;
    let cond = match &op.cond {
        Some(c) => Err((c.index_map(cx.out_shape), &c.values)),
        None => {
            next = 1;
            Ok(broadcast_index(cx.in_shapes[0], cx.out_shape))
        }
    };
    // A branch's wire for output element o: an input rescaled once per element, or a
    // shared constant wire.
    enum Src<'v> {
        Act { input: usize, index: Vec<usize>, shift: i32 },
        Const { index: Vec<usize>, values: &'v [i64] },
    }
    let srcs: Vec<Src<'_>> = [&op.x, &op.y]
        .into_iter()
        .map(|br| match br {
            Branch::Act { shift } => {
                next += 1;
                Src::Act {
                    input: next - 1,
                    index: broadcast_index(cx.in_shapes[next - 1], cx.out_shape),
                    shift: *shift,
                }
            }
            Branch::Const(c) => Src::Const { index: c.index_map(cx.out_shape), values: &c.values },
        })
        .collect();
    let mut scaled: HashMap<(usize, usize), Wire> = HashMap::new();
    let mut wire = |b: &mut Builder, s: &Src<'_>, o: usize| -> Result<Wire> {
        match s {
            Src::Const { index, values } => b.constant(values[index[o]] as i128),
            Src::Act { input, index, shift } => {
                let w = cx.inputs[*input][index[o]];
                if *shift == 0 {
                    return Ok(w);
                }
                if let Some(&r) = scaled.get(&(*input, index[o])) {
                    return Ok(r);
                }
                let r = b.rescale(w, 0, *shift, node)?;
                scaled.insert((*input, index[o]), r);
                Ok(r)
            }
        }
    };
    (0..n)
        .map(|o| match &cond {
            // A constant condition picks a branch: wiring.
            Err((ci, cv)) => wire(b, &srcs[if cv[ci[o]] == 1 { 0 } else { 1 }], o),
            Ok(ci) => {
                let c = cx.inputs[0][ci[o]];
                let (x, y) = (wire(b, &srcs[0], o)?, wire(b, &srcs[1], o)?);
                let d = b.derived(|s| s.val(Some(x)) - s.val(Some(y)));
                b.lin([Some(x), Some(y), Some(d)], [1, -1, -1], 0, 0, 0, node)?;
                Ok(b.select(y, d, c))
            }
        })
        .collect()
}

/// Rows: a comparison bit is 2 rows (Equal: two bits and a select); a Where element a
/// difference and a select (none with a constant condition), plus a rescale per element of
/// a branch at another scale and a row per distinct constant.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    let n = cx.outputs();
    match &cx.op.kind {
        QOpKind::Compare(c) if c.op == CmpOp::Equal => 5 * n,
        QOpKind::Compare(_) => 2 * n,
        QOpKind::Where(w) => {
            let first = usize::from(w.cond.is_none());
            let mut rows = if w.cond.is_none() { 2 * n } else { 0 };
            let mut input = first;
            for br in [&w.x, &w.y] {
                match br {
                    Branch::Act { shift } => {
                        if *shift != 0 {
                            rows += 2 * cx.in_shapes[input].iter().product::<usize>() as u64;
                        }
                        input += 1;
                    }
                    Branch::Const(c) => {
                        let distinct: std::collections::HashSet<i64> = c.values.iter().copied().collect();
                        rows += distinct.len() as u64;
                    }
                }
            }
            rows
        }
        _ => 0,
    }
}
