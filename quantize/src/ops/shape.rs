//! Wiring: ops that move values without computing — `Reshape` (Flatten,
//! Reshape, Squeeze, Unsqueeze), `Transpose`, `Pad` (constant, reflect, edge),
//! `Slice` (and Split, one slice per output), `Concat`, `Repeat` (Tile,
//! Expand), `Gather` with constant indices — and nodes that vanish at import
//! (Identity, Dropout in inference, a final Softmax). Every output element is
//! an input element (or a constant), listed by [`Wiring::sources`], so they
//! cost no rows: the circuit reuses the input's wires
//! (`circuits/src/layers/shape.rs`); only a constant fill costs one pinned
//! wire, and a Concat input at another scale a rescale per element.

use serde::{Deserialize, Serialize};

use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx, grid};
use crate::error::Result;
use crate::onnx::Node;

/// Float: same values, new shape.
#[derive(Clone, Debug)]
pub struct FloatReshape;

/// Same values in row-major order, the output tensor's shape; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {}

impl FloatOp for FloatReshape {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::Reshape(Reshape {}), cx.s_in[0]))
    }
}

impl QuantizedOp for Reshape {
    const NAME: &'static str = "reshape";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if cx.inputs[0].numel() != cx.output.numel() {
            return Err(format!("reshape of {:?} into {:?}", cx.inputs[0].shape, cx.output.shape));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0].iter().map(|&v| v as i128).collect())
    }
}

pub(crate) fn import_reshape(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::Reshape(FloatReshape)))
}

pub(crate) fn import_identity(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Alias(None))
}

/// Cast of an activation: to a float type it changes nothing in fixed point (an integer
/// tensor's values are whole numbers at scale 0); between integer types only when no value
/// of the activation range can change (a 32- or 64-bit signed target). A float activation
/// cast to an integer type (rounding toward zero) or to bool is refused.
pub(crate) fn import_cast(node: &Node<'_>) -> Result<Imported> {
    use tract_onnx::pb::tensor_proto::DataType as D;
    let to = node.attr_i("to").and_then(|t| D::try_from(t as i32).ok()).unwrap_or(D::Undefined);
    let from_integer = node.input_is_integer(0);
    match to {
        D::Float | D::Double => Ok(Imported::Alias(None)),
        D::Float16 | D::Bfloat16 => Ok(Imported::Alias(Some(format!(
            "Cast `{}` to {to:?}: the value stays at fixed point (the half-precision rounding is not modelled)",
            node.name
        )))),
        D::Int32 | D::Int64 if from_integer => Ok(Imported::Alias(None)),
        _ if from_integer => Err(node.unsup(format!(
            "a Cast of an integer tensor to {to:?} may change values (only int32, int64 and float targets are supported)"
        ))),
        _ => Err(node.unsup(format!(
            "a Cast of a float activation to {to:?} (rounding toward zero) is not supported"
        ))),
    }
}

/// Softmax as the model's final op is dropped: it preserves the argmax, and the proof
/// covers its input.
pub(crate) fn import_final_softmax(node: &Node<'_>) -> Result<Imported> {
    if !node.is_graph_output {
        return Err(node.unsup("Softmax is supported only as the final op (it is dropped: argmax is preserved)"));
    }
    Ok(Imported::Alias(Some(format!(
        "final Softmax `{}` dropped: the proof covers its input `{}` (argmax is preserved)",
        node.name, node.acts[0]
    ))))
}

/// Where one output element of a wiring op comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Element `index` (row-major) of activation input `input`.
    In {
        /// Which input.
        input: usize,
        /// Row-major index into it.
        index: usize,
    },
    /// The op's constant fill value (padding).
    Fill,
}

/// An op whose every output element is an input element or a constant: no arithmetic,
/// so the circuit reuses wires (`circuits/src/layers/shape.rs`).
pub trait Wiring {
    /// The source of every output element, row-major; `Err` when the shapes do not fit.
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String>;
    /// The quantized fill value (for [`Source::Fill`]).
    fn fill(&self) -> i64 {
        0
    }
    /// A rescale applied to every element taken from input `i` (0: none).
    fn shift(&self, _input: usize) -> i32 {
        0
    }
}

/// Gathers a wiring op's output from its inputs (with each input's rescale).
fn gather(op: &impl Wiring, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
    let shapes: Vec<&[usize]> = cx.inputs.iter().map(|a| a.shape()).collect();
    let flats: Vec<_> = cx.inputs.iter().map(|a| super::linear::flat(a)).collect();
    let src = op.sources(&shapes, cx.out_shape)?;
    Ok(src
        .iter()
        .map(|s| match *s {
            Source::In { input, index } => crate::fixed::rescale(flats[input][index] as i128, op.shift(input)),
            Source::Fill => op.fill() as i128,
        })
        .collect())
}

/// Validates a wiring op by computing its sources against the tensors' shapes.
fn check_wiring(op: &impl Wiring, cx: &ValidateCx<'_>) -> Result<(), String> {
    let shapes: Vec<&[usize]> = cx.inputs.iter().map(|t| t.shape.as_slice()).collect();
    let src = op.sources(&shapes, &cx.output.shape)?;
    if src.len() != cx.output.numel() {
        return Err(format!("{} sources for {} outputs", src.len(), cx.output.numel()));
    }
    for s in &src {
        if let Source::In { input, index } = *s
            && (input >= shapes.len() || index >= cx.inputs[input].numel())
        {
            return Err(format!("source {index} of input {input} out of range"));
        }
    }
    let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
    if !(lo..=hi).contains(&(op.fill() as i128)) {
        return Err(format!("fill value {} outside the activation range", op.fill()));
    }
    Ok(())
}

/// For every output multi-index, `f(output index) -> source`, over `out_shape` row-major.
fn map_outputs(out_shape: &[usize], mut f: impl FnMut(&[usize]) -> Source) -> Vec<Source> {
    let mut out = Vec::with_capacity(out_shape.iter().product());
    grid::for_each_index(out_shape, |o| out.push(f(o)));
    out
}

macro_rules! wiring_op {
    ($float:ident, $quant:ident, $name:literal) => {
        impl FloatOp for $float {
            fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
                Ok((QOpKind::$quant(self.quantized(cx)), cx.s_in[0]))
            }
        }

        impl QuantizedOp for $quant {
            const NAME: &'static str = $name;

            fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
                check_wiring(self, cx)
            }

            fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
                gather(self, cx)
            }
        }
    };
}

/// Float transpose.
#[derive(Clone, Debug)]
pub struct FloatTranspose {
    /// Output axis `i` is input axis `perm[i]`.
    pub perm: Vec<usize>,
}

/// `y[i_0, …] = x[i_{perm^-1}…]`: output axis `a` is input axis `perm[a]`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// Output axis `i` is input axis `perm[i]`.
    pub perm: Vec<usize>,
}

impl FloatTranspose {
    fn quantized(&self, _: &QuantCx<'_>) -> Transpose {
        Transpose { perm: self.perm.clone() }
    }
}

impl Wiring for Transpose {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        let mut sorted = self.perm.clone();
        sorted.sort_unstable();
        if sorted != (0..x.len()).collect::<Vec<_>>() || out_shape.len() != x.len() {
            return Err(format!("perm {:?} for input {x:?}", self.perm));
        }
        if (0..x.len()).any(|a| out_shape[a] != x[self.perm[a]]) {
            return Err(format!("transpose of {x:?} by {:?} into {out_shape:?}", self.perm));
        }
        let st = grid::strides(x);
        Ok(map_outputs(out_shape, |o| Source::In {
            input: 0,
            index: (0..o.len()).map(|a| o[a] * st[self.perm[a]]).sum(),
        }))
    }
}

wiring_op!(FloatTranspose, Transpose, "transpose");

/// How [`Pad`] fills positions outside the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    /// A constant.
    Constant,
    /// The input mirrored at its edges, without repeating the edge.
    Reflect,
    /// The nearest edge value.
    Edge,
}

/// Float padding.
#[derive(Clone, Debug)]
pub struct FloatPad {
    /// Begins of every axis, then ends; negative values crop.
    pub pads: Vec<i64>,
    /// Fill rule.
    pub mode: PadMode,
    /// The constant (mode `Constant`).
    pub value: f32,
}

/// `y[o] = x[o − begin]` where that index is inside `x`; elsewhere the constant `value`
/// (at the input's scale), the mirrored index (`reflect`) or the clamped index (`edge`).
/// Negative pads crop; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pad {
    /// Begins of every axis, then ends.
    pub pads: Vec<i64>,
    /// Fill rule.
    pub mode: PadMode,
    /// The quantized constant.
    pub value: i64,
}

impl FloatPad {
    fn quantized(&self, cx: &QuantCx<'_>) -> Pad {
        Pad {
            pads: self.pads.clone(),
            mode: self.mode,
            value: crate::fixed::quantize_value(self.value as f64, cx.s_in[0]),
        }
    }
}

impl Wiring for Pad {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        let r = x.len();
        if self.pads.len() != 2 * r || out_shape.len() != r {
            return Err(format!("pads {:?} for input {x:?}", self.pads));
        }
        for a in 0..r {
            if x[a] as i64 + self.pads[a] + self.pads[a + r] != out_shape[a] as i64 {
                return Err(format!("pads {:?} take {x:?} to {out_shape:?}", self.pads));
            }
            if self.mode == PadMode::Reflect && (self.pads[a] >= x[a] as i64 || self.pads[a + r] >= x[a] as i64) {
                return Err(format!("reflect padding {:?} at least the input size {x:?}", self.pads));
            }
            if self.mode != PadMode::Constant && x[a] == 0 {
                return Err("edge or reflect padding of an empty axis".into());
            }
        }
        let st = grid::strides(x);
        Ok(map_outputs(out_shape, |o| {
            let mut index = 0;
            for a in 0..r {
                let n = x[a] as i64;
                let mut c = o[a] as i64 - self.pads[a];
                if c < 0 || c >= n {
                    match self.mode {
                        PadMode::Constant => return Source::Fill,
                        PadMode::Edge => c = c.clamp(0, n - 1),
                        PadMode::Reflect => {
                            c = if c < 0 { -c } else { 2 * (n - 1) - c };
                        }
                    }
                }
                index += c as usize * st[a];
            }
            Source::In { input: 0, index }
        }))
    }

    fn fill(&self) -> i64 {
        if self.mode == PadMode::Constant { self.value } else { 0 }
    }
}

wiring_op!(FloatPad, Pad, "pad");

/// Float strided slice.
#[derive(Clone, Debug)]
pub struct FloatSlice {
    /// Start per axis (normalized: inside the axis).
    pub starts: Vec<i64>,
    /// Step per axis (non-zero).
    pub steps: Vec<i64>,
}

/// `y[o] = x[start + o·step]` on every axis (starts and steps normalized per axis, the
/// output shape the model's); same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// Start per axis.
    pub starts: Vec<i64>,
    /// Step per axis.
    pub steps: Vec<i64>,
}

impl FloatSlice {
    fn quantized(&self, _: &QuantCx<'_>) -> Slice {
        Slice { starts: self.starts.clone(), steps: self.steps.clone() }
    }
}

impl Wiring for Slice {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        let r = x.len();
        if self.starts.len() != r || self.steps.len() != r || out_shape.len() != r || self.steps.contains(&0) {
            return Err(format!("slice starts {:?} steps {:?} for {x:?}", self.starts, self.steps));
        }
        for a in 0..r {
            let last = self.starts[a] + (out_shape[a] as i64 - 1).max(0) * self.steps[a];
            if out_shape[a] > 0
                && (self.starts[a] < 0 || self.starts[a] >= x[a] as i64 || last < 0 || last >= x[a] as i64)
            {
                return Err(format!("slice of axis {a} ({} elements) leaves the input", x[a]));
            }
        }
        let st = grid::strides(x);
        Ok(map_outputs(out_shape, |o| Source::In {
            input: 0,
            index: (0..r).map(|a| (self.starts[a] + o[a] as i64 * self.steps[a]) as usize * st[a]).sum(),
        }))
    }
}

wiring_op!(FloatSlice, Slice, "slice");

/// Float concatenation.
#[derive(Clone, Debug)]
pub struct FloatConcat {
    /// The axis.
    pub axis: usize,
}

/// `y` = the inputs joined along `axis`, input `i` rescaled by `shifts[i]` to the output's
/// scale (0: a pure copy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// The axis.
    pub axis: usize,
    /// `s_i − s_out` per input.
    pub shifts: Vec<i32>,
}

impl FloatOp for FloatConcat {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        // The finest scale every input can be brought to without overflow: the coarsest input's.
        let s_out = cx.s_in.iter().copied().min().unwrap_or(0);
        Ok((QOpKind::Concat(Concat { axis: self.axis, shifts: cx.s_in.iter().map(|s| s - s_out).collect() }), s_out))
    }
}

impl Wiring for Concat {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let r = out_shape.len();
        if self.axis >= r || in_shapes.is_empty() {
            return Err(format!("axis {} of {out_shape:?}", self.axis));
        }
        let mut offsets = vec![];
        let mut total = 0;
        for s in in_shapes {
            if s.len() != r || (0..r).any(|a| a != self.axis && s[a] != out_shape[a]) {
                return Err(format!("cannot join {in_shapes:?} into {out_shape:?} along axis {}", self.axis));
            }
            offsets.push(total);
            total += s[self.axis];
        }
        if total != out_shape[self.axis] {
            return Err(format!("inputs {in_shapes:?} do not fill {out_shape:?}"));
        }
        let strides: Vec<Vec<usize>> = in_shapes.iter().map(|s| grid::strides(s)).collect();
        Ok(map_outputs(out_shape, |o| {
            let c = o[self.axis];
            let input = offsets.iter().rposition(|&off| off <= c).unwrap_or(0);
            let index =
                (0..r).map(|a| if a == self.axis { c - offsets[input] } else { o[a] } * strides[input][a]).sum();
            Source::In { input, index }
        }))
    }

    fn shift(&self, input: usize) -> i32 {
        self.shifts.get(input).copied().unwrap_or(0)
    }
}

impl QuantizedOp for Concat {
    const NAME: &'static str = "concat";

    fn arity(&self) -> usize {
        self.shifts.len()
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        check_wiring(self, cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        gather(self, cx)
    }
}

/// Float broadcast or tiling to the output's shape.
#[derive(Clone, Debug)]
pub struct FloatRepeat {
    /// Tile (repeat the whole input) instead of broadcasting (repeat size-1 axes).
    pub tile: bool,
}

/// `y[o] = x[o mod shape(x)]` (Tile) or numpy broadcasting of `x` to the output's shape
/// (Expand); same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    /// Tile instead of broadcast.
    pub tile: bool,
}

impl FloatRepeat {
    fn quantized(&self, _: &QuantCx<'_>) -> Repeat {
        Repeat { tile: self.tile }
    }
}

impl Wiring for Repeat {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        if self.tile {
            if x.len() != out_shape.len() || (0..x.len()).any(|a| x[a] == 0 || !out_shape[a].is_multiple_of(x[a])) {
                return Err(format!("tile of {x:?} into {out_shape:?}"));
            }
            let st = grid::strides(x);
            return Ok(map_outputs(out_shape, |o| Source::In {
                input: 0,
                index: (0..o.len()).map(|a| (o[a] % x[a]) * st[a]).sum(),
            }));
        }
        if x.len() > out_shape.len() || x.iter().rev().zip(out_shape.iter().rev()).any(|(&a, &b)| a != b && a != 1) {
            return Err(format!("{x:?} does not broadcast to {out_shape:?}"));
        }
        Ok(super::elementwise::broadcast_index(x, out_shape)
            .into_iter()
            .map(|index| Source::In { input: 0, index })
            .collect())
    }
}

wiring_op!(FloatRepeat, Repeat, "repeat");

/// Float gather along an axis with constant indices.
#[derive(Clone, Debug)]
pub struct FloatGather {
    /// The axis.
    pub axis: usize,
    /// Indices into it (normalized, non-negative), flattened.
    pub indices: Vec<usize>,
}

/// `y[a…, j, b…] = x[a…, indices[j], b…]` along `axis` (the index tensor's dims replace the
/// axis in the output's shape); same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather {
    /// The axis.
    pub axis: usize,
    /// Indices into it, flattened.
    pub indices: Vec<usize>,
}

impl FloatGather {
    fn quantized(&self, _: &QuantCx<'_>) -> Gather {
        Gather { axis: self.axis, indices: self.indices.clone() }
    }
}

impl Wiring for Gather {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        if self.axis >= x.len() || self.indices.iter().any(|&i| i >= x[self.axis]) {
            return Err(format!("gather of indices {:?} on axis {} of {x:?}", self.indices, self.axis));
        }
        let outer: usize = x[..self.axis].iter().product();
        let inner: usize = x[self.axis + 1..].iter().product();
        if outer * self.indices.len() * inner != out_shape.iter().product::<usize>() {
            return Err(format!("gather into {out_shape:?}"));
        }
        let mut out = Vec::with_capacity(outer * self.indices.len() * inner);
        for o in 0..outer {
            for &j in &self.indices {
                for i in 0..inner {
                    out.push(Source::In { input: 0, index: (o * x[self.axis] + j) * inner + i });
                }
            }
        }
        Ok(out)
    }
}

wiring_op!(FloatGather, Gather, "gather");

/// The constant integer values of an optional input, or `None` when it is absent.
fn const_ints(node: &Node<'_>, i: usize) -> Result<Option<Vec<i64>>> {
    match node.ins.get(i).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(name) => Ok(Some(node.const_array(name)?.iter().map(|&v| v as i64).collect())),
    }
}

/// Normalizes a possibly negative axis.
fn axis_of(node: &Node<'_>, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(node.unsup(format!("axis {axis} of a rank-{rank} tensor")));
    }
    Ok(a as usize)
}

pub(crate) fn import_transpose(node: &Node<'_>) -> Result<Imported> {
    let rank = node.shape(&node.acts[0])?.len();
    let perm: Vec<usize> = match node.attr_ints("perm") {
        Some(p) => p.iter().map(|&a| axis_of(node, a, rank)).collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    Ok(Imported::Op(FloatOpKind::Transpose(FloatTranspose { perm })))
}

pub(crate) fn import_pad(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("pads and the constant must be constants"));
    }
    let rank = node.shape(&node.acts[0])?.len();
    let mode = match node.attr_s("mode").as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => return Err(node.unsup(format!("mode `{other}`"))),
    };
    let given = match const_ints(node, 1)? {
        Some(p) => p,
        None => node.attr_ints("pads").ok_or_else(|| node.unsup("no pads"))?,
    };
    let value = match node.ins.get(2).filter(|s| !s.is_empty()) {
        Some(v) => node.const_array(v)?.iter().next().copied().unwrap_or(0.0),
        None => node.attr_f("value").unwrap_or(0.0),
    };
    // Opset 18: pads for the listed axes only.
    let pads = match const_ints(node, 3)? {
        None => given,
        Some(axes) => {
            let mut full = vec![0; 2 * rank];
            for (i, &a) in axes.iter().enumerate() {
                let a = axis_of(node, a, rank)?;
                full[a] = given[i];
                full[a + rank] = given[i + axes.len()];
            }
            full
        }
    };
    if pads.len() != 2 * rank {
        return Err(node.unsup(format!("pads {pads:?} for rank {rank}")));
    }
    Ok(Imported::Op(FloatOpKind::Pad(FloatPad { pads, mode, value })))
}

/// The normalized start and step of every axis of a Slice node.
fn slice_params(node: &Node<'_>, x: &[usize]) -> Result<(Vec<i64>, Vec<i64>)> {
    let rank = x.len();
    let (starts, ends, axes, steps) = match const_ints(node, 1)? {
        Some(starts) => (starts, const_ints(node, 2)?.unwrap_or_default(), const_ints(node, 3)?, const_ints(node, 4)?),
        None => (
            node.attr_ints("starts").unwrap_or_default(),
            node.attr_ints("ends").unwrap_or_default(),
            node.attr_ints("axes"),
            None,
        ),
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(node.unsup("starts, ends, axes and steps of different lengths"));
    }
    let (mut st, mut sp) = (vec![0i64; rank], vec![1i64; rank]);
    for i in 0..starts.len() {
        let a = axis_of(node, axes[i], rank)?;
        let n = x[a] as i64;
        let step = steps[i];
        if step == 0 {
            return Err(node.unsup("step 0"));
        }
        let mut s = starts[i];
        if s < 0 {
            s += n;
        }
        s = if step > 0 { s.clamp(0, n) } else { s.clamp(0, n - 1) };
        st[a] = s;
        sp[a] = step;
    }
    Ok((st, sp))
}

pub(crate) fn import_slice(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("the slice bounds must be constants"));
    }
    let x = node.shape(&node.acts[0])?;
    let (starts, steps) = slice_params(node, &x)?;
    Ok(Imported::Op(FloatOpKind::Slice(FloatSlice { starts, steps })))
}

pub(crate) fn import_split(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("the split sizes must be constants"));
    }
    let x = node.shape(&node.acts[0])?;
    let axis = axis_of(node, node.attr_i("axis").unwrap_or(0), x.len())?;
    let mut kinds = vec![];
    let mut start = 0i64;
    for out in &node.outputs {
        let shape = node.shape(out)?;
        let mut starts = vec![0; x.len()];
        starts[axis] = start;
        start += shape[axis] as i64;
        kinds.push(FloatOpKind::Slice(FloatSlice { starts, steps: vec![1; x.len()] }));
    }
    if start != x[axis] as i64 {
        return Err(node.unsup(format!("outputs of {start} elements along axis {axis} of {x:?}")));
    }
    Ok(Imported::PerOutput(kinds))
}

pub(crate) fn import_concat(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() != node.ins.iter().filter(|s| !s.is_empty()).count() {
        return Err(node.unsup("a constant input (only activations are joined)"));
    }
    let rank = node.out_shape.len();
    let axis = axis_of(node, node.attr_i("axis").unwrap_or(0), rank)?;
    Ok(Imported::Op(FloatOpKind::Concat(FloatConcat { axis })))
}

pub(crate) fn import_repeat(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("the repeats or shape must be constants"));
    }
    Ok(Imported::Op(FloatOpKind::Repeat(FloatRepeat { tile: node.op == "Tile" })))
}

pub(crate) fn import_gather(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() == 1 && node.ins.get(1) == Some(&node.acts[0]) {
        // A constant table by run-time indices: an embedding lookup.
        return super::lookup::import_embedding(node);
    }
    if node.acts.len() == 2 && node.input_is_integer(0) {
        return Err(node.unsup(
            "its data is an integer or bool tensor computed from the input, and so are its indices: \
             computed indices gather only from float data (a one-hot MatMul) or from a constant table",
        ));
    }
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("both the data and the indices are computed from the input"));
    }
    let x = node.shape(&node.acts[0])?;
    let axis = axis_of(node, node.attr_i("axis").unwrap_or(0), x.len())?;
    let indices = const_ints(node, 1)?.ok_or_else(|| node.unsup("no indices"))?;
    let n = x[axis] as i64;
    let indices = indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n { Err(node.unsup(format!("index {i} of an axis of {n}"))) } else { Ok(j as usize) }
        })
        .collect::<Result<_>>()?;
    Ok(Imported::Op(FloatOpKind::Gather(FloatGather { axis, indices })))
}

/// Float nearest-neighbour resize.
#[derive(Clone, Debug)]
pub struct FloatResize {
    /// For each axis, the input index of every output index.
    pub maps: Vec<Vec<usize>>,
}

/// `y[o…] = x[maps[0][o_0], maps[1][o_1], …]`: nearest-neighbour Resize/Upsample, the
/// per-axis maps computed at import from the coordinate transformation and rounding mode;
/// same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// For each axis, the input index of every output index.
    pub maps: Vec<Vec<usize>>,
}

impl FloatResize {
    fn quantized(&self, _: &QuantCx<'_>) -> Resize {
        Resize { maps: self.maps.clone() }
    }
}

impl Wiring for Resize {
    fn sources(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> Result<Vec<Source>, String> {
        let x = in_shapes[0];
        let fits = self.maps.len() == x.len()
            && out_shape.len() == x.len()
            && (0..x.len()).all(|a| self.maps[a].len() == out_shape[a] && self.maps[a].iter().all(|&i| i < x[a]));
        if !fits {
            return Err(format!("resize maps for {x:?} → {out_shape:?}"));
        }
        let st = grid::strides(x);
        Ok(map_outputs(out_shape, |o| Source::In {
            input: 0,
            index: (0..o.len()).map(|a| self.maps[a][o[a]] * st[a]).sum(),
        }))
    }
}

wiring_op!(FloatResize, Resize, "resize");

/// Resize (opset 10+) and Upsample in `nearest` mode.
pub(crate) fn import_resize(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("scales and sizes must be constants"));
    }
    let mode = node.attr_s("mode").unwrap_or_else(|| "nearest".into());
    if mode != "nearest" {
        return Err(node.unsup(format!("mode `{mode}` (only nearest; linear resizing is a convolution)")));
    }
    let upsample = node.op == "Upsample";
    let ctm = if upsample {
        "asymmetric".into()
    } else {
        node.attr_s("coordinate_transformation_mode").unwrap_or_else(|| "half_pixel".into())
    };
    let rounding = if upsample {
        "floor".into()
    } else {
        node.attr_s("nearest_mode").unwrap_or_else(|| "round_prefer_floor".into())
    };
    let x = node.shape(&node.acts[0])?;
    let out = &node.out_shape;
    if out.len() != x.len() || node.attr_ints("axes").is_some() {
        return Err(node.unsup("the axes attribute (resize every axis)"));
    }
    let scale_input = if upsample { 1 } else { 2 };
    let scales: Option<Vec<f64>> = match node.ins.get(scale_input).filter(|s| !s.is_empty()) {
        Some(name) => {
            let v: Vec<f64> = node.const_array(name)?.iter().map(|&v| v as f64).collect();
            (v.len() == x.len()).then_some(v)
        }
        None => None,
    };
    let mut maps = vec![];
    for a in 0..x.len() {
        let (n_in, n_out) = (x[a] as f64, out[a] as f64);
        let scale = scales.as_ref().map_or(n_out / n_in, |s| s[a]);
        let map = (0..out[a])
            .map(|o| {
                let o = o as f64;
                let c = match ctm.as_str() {
                    "half_pixel" => (o + 0.5) / scale - 0.5,
                    "pytorch_half_pixel" if n_out > 1.0 => (o + 0.5) / scale - 0.5,
                    "pytorch_half_pixel" => 0.0,
                    "asymmetric" => o / scale,
                    "align_corners" if n_out > 1.0 => o * (n_in - 1.0) / (n_out - 1.0),
                    "align_corners" => 0.0,
                    "tf_half_pixel_for_nn" => (o + 0.5) / scale,
                    other => return Err(node.unsup(format!("coordinate_transformation_mode `{other}`"))),
                };
                let frac = c - c.floor();
                let r = match rounding.as_str() {
                    "round_prefer_floor" if frac == 0.5 => c.floor(),
                    "round_prefer_ceil" if frac == 0.5 => c.ceil(),
                    "round_prefer_floor" | "round_prefer_ceil" => c.round(),
                    "floor" => c.floor(),
                    "ceil" => c.ceil(),
                    other => return Err(node.unsup(format!("nearest_mode `{other}`"))),
                };
                Ok(r.clamp(0.0, n_in - 1.0) as usize)
            })
            .collect::<Result<Vec<usize>>>()?;
        maps.push(map);
    }
    Ok(Imported::Op(FloatOpKind::Resize(FloatResize { maps })))
}
