//! Pooling over `[N, C, spatial…]` (1, 2 or 3 spatial axes): `AvgPool`,
//! `MaxPool` (kernels, strides, padding, dilations, ceil mode) and
//! `GlobalAvgPool`.
//!
//! An average is a sum (multiply-accumulate rows with weight 1) and a rounded
//! division with a range-checked remainder; a maximum is a chain of
//! comparisons, each a sign bit and a select
//! (`circuits/src/layers/pool.rs`). The scale is the input's.

use serde::{Deserialize, Serialize};

use super::grid::Geometry;
use super::linear::flat;
use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::div_round;
use crate::onnx::Node;

/// A pooling window over the spatial axes: kernel, strides, explicit padding (begins ‖
/// ends) and dilations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// One per spatial axis.
    pub kernel: Vec<usize>,
    /// One per spatial axis.
    pub strides: Vec<usize>,
    /// The begins of every spatial axis, then the ends.
    pub pads: Vec<usize>,
    /// One per spatial axis (absent: all 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
}

impl Window {
    fn geometry(&self) -> Geometry<'_> {
        Geometry { kernel: &self.kernel, strides: &self.strides, pads: &self.pads, dilations: &self.dilations }
    }

    /// Calls `f(in-bounds input indices, padded count)` for every output in row-major
    /// order, where the padded count is the number of window positions inside the padded
    /// input (the divisor of an average with `count_include_pad`).
    pub fn for_each(&self, in_shape: &[usize], out_shape: &[usize], mut f: impl FnMut(&[usize], usize)) {
        if in_shape.len() < 3 || out_shape.len() != in_shape.len() {
            return;
        }
        let size: usize = in_shape[2..].iter().product();
        let mut idx = Vec::new();
        for nc in 0..in_shape[0] * in_shape[1] {
            self.geometry().for_each_window(&in_shape[2..], &out_shape[2..], |taps, padded| {
                idx.clear();
                idx.extend(taps.iter().map(|&(i, _)| nc * size + i));
                f(&idx, padded);
            });
        }
    }

    fn validate(&self, rank: usize) -> Result<(), String> {
        self.geometry().validate(rank)
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
        let op = AvgPool { window: self.window.clone(), count_include_pad: self.count_include_pad };
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
        pool_shapes(cx)?;
        self.window.validate(cx.inputs[0].shape.len() - 2)
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
        Ok((QOpKind::MaxPool(MaxPool { window: self.window.clone() }), cx.s_in[0]))
    }
}

impl QuantizedOp for MaxPool {
    const NAME: &'static str = "max_pool";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        pool_shapes(cx)?;
        self.window.validate(cx.inputs[0].shape.len() - 2)?;
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
    let (x, y) = (&cx.inputs[0].shape, &cx.output.shape);
    if !(3..=5).contains(&x.len()) || y.len() != x.len() || x[..2] != y[..2] {
        return Err(format!("pooling {x:?} into {y:?} ([N, C, 1–3 spatial axes], same N and C)"));
    }
    Ok(())
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

/// AveragePool, MaxPool: 1, 2 or 3 spatial axes, any strides, padding, dilations, ceil mode.
pub(crate) fn import_pool(node: &Node<'_>) -> Result<Imported> {
    let x_shape = node.shape(&node.acts[0])?;
    let rank = x_shape.len();
    if !(3..=5).contains(&rank) {
        return Err(node.unsup(format!("only 1-D, 2-D and 3-D pooling (input rank {rank})")));
    }
    if node.outputs.len() > 1 {
        return Err(node.unsup("the indices output"));
    }
    let k = node.attr_ints("kernel_shape").unwrap_or_default();
    if k.len() != rank - 2 || k.iter().any(|v| *v <= 0) {
        return Err(node.unsup(format!("kernel_shape {k:?} for input rank {rank}")));
    }
    let kernel: Vec<usize> = k.iter().map(|&v| v as usize).collect();
    let cw = node.window_attrs(&kernel, &x_shape, true)?;
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
