//! Pooling over NCHW (or NCL, as height 1): `AvgPool`, `MaxPool` (kernels,
//! strides, padding, dilations, ceil mode) and `GlobalAvgPool`.
//!
//! An average is a sum (multiply-accumulate rows with weight 1) and a rounded
//! division with a range-checked remainder; a maximum is a chain of
//! comparisons, each a sign bit and a select
//! (`circuits/src/layers/pool.rs`). The scale is the input's.

use serde::{Deserialize, Serialize};

use super::linear::{flat, nchw, ones};
use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::div_round;
use crate::onnx::Node;

/// A pooling window over `[h, w]`: kernel, strides, explicit padding and dilations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[dh, dw]`.
    #[serde(default = "ones", skip_serializing_if = "is_ones")]
    pub dilations: [usize; 2],
}

fn is_ones(v: &[usize; 2]) -> bool {
    *v == [1, 1]
}

impl Window {
    /// Calls `f(in-bounds input indices, padded count)` for every output in row-major
    /// order, where the padded count is the number of window positions inside the padded
    /// input (the divisor of an average with `count_include_pad`).
    pub fn for_each(&self, in_shape: &[usize], out_shape: &[usize], mut f: impl FnMut(&[usize], usize)) {
        let (Some([n, c, h, w]), Some([_, _, oh, ow])) = (nchw(in_shape), nchw(out_shape)) else {
            return;
        };
        let (k, s, p, d) = (self.kernel, self.strides, self.pads, self.dilations);
        let mut idx = Vec::with_capacity(k[0] * k[1]);
        for b in 0..n {
            for ch in 0..c {
                for i in 0..oh {
                    for j in 0..ow {
                        idx.clear();
                        let (mut rows, mut cols) = (0, 0);
                        for di in 0..k[0] {
                            let y = (i * s[0] + di * d[0]) as isize - p[0] as isize;
                            if y < (h + p[2]) as isize {
                                rows += 1;
                            }
                            if y < 0 || y >= h as isize {
                                continue;
                            }
                            for dj in 0..k[1] {
                                let x = (j * s[1] + dj * d[1]) as isize - p[1] as isize;
                                if x >= 0 && x < w as isize {
                                    idx.push(((b * c + ch) * h + y as usize) * w + x as usize);
                                }
                            }
                        }
                        for dj in 0..k[1] {
                            let x = (j * s[1] + dj * d[1]) as isize - p[1] as isize;
                            if x < (w + p[3]) as isize {
                                cols += 1;
                            }
                        }
                        f(&idx, rows * cols);
                    }
                }
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.kernel.contains(&0) || self.strides.contains(&0) || self.dilations.contains(&0) {
            return Err("zero kernel, stride or dilation".into());
        }
        Ok(())
    }
}

/// Float average over windows.
#[derive(Clone, Debug)]
pub struct FloatAvgPool {
    /// The window.
    pub window: Window,
    /// Divide by the window's size within the padded input even where it overlaps padding.
    pub count_include_pad: bool,
}

/// `y = div_round(Σ window, count)` over `kernel` windows; `count` is the number of window
/// positions inside the padded input with `count_include_pad`, else the number of in-bounds
/// positions; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool {
    /// Kernel, strides, padding and dilations.
    #[serde(flatten)]
    pub window: Window,
    /// Divide by the full window even where it overlaps padding.
    pub count_include_pad: bool,
}

impl FloatOp for FloatAvgPool {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let op = AvgPool { window: self.window, count_include_pad: self.count_include_pad };
        Ok((QOpKind::AvgPool(op), cx.s_in[0]))
    }
}

impl AvgPool {
    /// Calls `f(in-bounds input indices, divisor)` for every output in row-major order.
    pub fn for_each(&self, in_shape: &[usize], out_shape: &[usize], mut f: impl FnMut(&[usize], usize)) {
        self.window.for_each(in_shape, out_shape, |idx, padded| {
            let count = if self.count_include_pad { padded } else { idx.len() };
            f(idx, count.max(1))
        })
    }
}

impl QuantizedOp for AvgPool {
    const NAME: &'static str = "avg_pool";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        self.window.validate()?;
        pool_shapes(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = flat(cx.inputs[0]);
        let mut out = Vec::with_capacity(cx.numel());
        self.for_each(cx.inputs[0].shape(), cx.out_shape, |idx, count| {
            out.push(div_round(idx.iter().map(|&i| x[i] as i128).sum(), count as i128));
        });
        Ok(out)
    }
}

/// Float maximum over windows (padding never wins).
#[derive(Clone, Debug)]
pub struct FloatMaxPool {
    /// The window.
    pub window: Window,
}

/// `y = max(window)` over in-bounds positions (padding never wins); same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool {
    /// Kernel, strides, padding and dilations.
    #[serde(flatten)]
    pub window: Window,
}

impl FloatOp for FloatMaxPool {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::MaxPool(MaxPool { window: self.window }), cx.s_in[0]))
    }
}

impl QuantizedOp for MaxPool {
    const NAME: &'static str = "max_pool";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        self.window.validate()?;
        pool_shapes(cx)?;
        let mut empty = false;
        self.window.for_each(&cx.inputs[0].shape, &cx.output.shape, |idx, _| empty |= idx.is_empty());
        if empty { Err("a window lies entirely in the padding".into()) } else { Ok(()) }
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = flat(cx.inputs[0]);
        let mut out = Vec::with_capacity(cx.numel());
        self.window.for_each(cx.inputs[0].shape(), cx.out_shape, |idx, _| {
            out.push(idx.iter().map(|&i| x[i]).max().unwrap_or(0) as i128);
        });
        Ok(out)
    }
}

fn pool_shapes(cx: &ValidateCx<'_>) -> Result<(), String> {
    let (x, y) = (nchw(&cx.inputs[0].shape), nchw(&cx.output.shape));
    match (x, y) {
        (Some(x), Some(y)) if x[..2] == y[..2] => Ok(()),
        _ => Err(format!("pooling {:?} into {:?} (NCHW or NCL, same N and C)", cx.inputs[0].shape, cx.output.shape)),
    }
}

/// Float mean over the spatial dims.
#[derive(Clone, Debug)]
pub struct FloatGlobalAvgPool;

/// `y[n, c] = div_round(Σ_{spatial} x[n, c, ..], H·W·…)`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalAvgPool {}

impl FloatOp for FloatGlobalAvgPool {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::GlobalAvgPool(GlobalAvgPool {}), cx.s_in[0]))
    }
}

impl GlobalAvgPool {
    /// Elements averaged into each output.
    pub fn window_len(in_shape: &[usize]) -> usize {
        in_shape.iter().skip(2).product::<usize>().max(1)
    }
}

impl QuantizedOp for GlobalAvgPool {
    const NAME: &'static str = "global_avg_pool";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let (x, y) = (&cx.inputs[0].shape, &cx.output.shape);
        if x.len() < 3 || y.len() != x.len() || x[..2] != y[..2] || y[2..].iter().any(|&d| d != 1) {
            return Err(format!("global pooling {x:?} into {y:?}"));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let hw = Self::window_len(cx.inputs[0].shape());
        let x = flat(cx.inputs[0]);
        Ok(x.chunks(hw).map(|c| div_round(c.iter().map(|&v| v as i128).sum(), hw as i128)).collect())
    }
}

/// AveragePool, MaxPool: 1-D or 2-D, any strides, padding, dilations, ceil mode.
pub(crate) fn import_pool(node: &Node<'_>) -> Result<Imported> {
    let x_shape = node.shape(&node.acts[0])?;
    let rank = x_shape.len();
    if rank != 3 && rank != 4 {
        return Err(node.unsup(format!("only 1-D and 2-D pooling (input rank {rank})")));
    }
    if node.outputs.len() > 1 {
        return Err(node.unsup("the indices output"));
    }
    let k = node.attr_ints("kernel_shape").unwrap_or_default();
    if k.len() != rank - 2 || k.iter().any(|v| *v <= 0) {
        return Err(node.unsup(format!("kernel_shape {k:?} for input rank {rank}")));
    }
    let kernel = if rank == 3 { [1, k[0] as usize] } else { [k[0] as usize, k[1] as usize] };
    let cw = node.window_attrs(kernel, &x_shape)?;
    let window = Window { kernel, strides: cw.strides, pads: cw.pads, dilations: cw.dilations };
    if node.op == "MaxPool" {
        if node.attr_i("storage_order").unwrap_or(0) != 0 {
            return Err(node.unsup("storage_order=1"));
        }
        Ok(Imported::Op(FloatOpKind::MaxPool(FloatMaxPool { window })))
    } else {
        let count_include_pad = node.attr_i("count_include_pad").unwrap_or(0) != 0;
        Ok(Imported::Op(FloatOpKind::AvgPool(FloatAvgPool { window, count_include_pad })))
    }
}

/// GlobalAveragePool over any number of spatial dims.
pub(crate) fn import_global_pool(node: &Node<'_>) -> Result<Imported> {
    if node.shape(&node.acts[0])?.len() < 3 {
        return Err(node.unsup("the input needs spatial dimensions (NC…)"));
    }
    Ok(Imported::Op(FloatOpKind::GlobalAvgPool(FloatGlobalAvgPool)))
}
