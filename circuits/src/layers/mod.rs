//! Layers: each op family's lowering to rows, in the file named like the
//! family's file in `quantize/src/ops/` (which holds its import, quantization
//! rule and integer semantics). A layer reads its input wires and returns its
//! output wires, row-major; it is written in [`crate::gadgets`], so that every
//! wire it makes is pinned down ([`crate::soundness`] checks it).

pub(crate) mod activation;
pub(crate) mod compare;
pub(crate) mod elementwise;
pub(crate) mod linear;
pub(crate) mod lookup;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod shape;

use zkinfer_quantize::QOpKind;
use zkinfer_quantize::qmodel::QOp;

use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

/// What lowering one op sees.
pub(crate) struct LayerCx<'a> {
    /// The op.
    pub op: &'a QOp,
    /// The wires of each activation input, row-major.
    pub inputs: Vec<&'a [Wire]>,
    /// The shapes of the activation inputs.
    pub in_shapes: Vec<&'a [usize]>,
    /// The output's shape.
    pub out_shape: &'a [usize],
    /// The scale of each activation input and of the output (`scale_bits`).
    pub scales: (Vec<i32>, i32),
}

impl LayerCx<'_> {
    /// The op's node name, for messages.
    pub fn node(&self) -> &str {
        &self.op.node
    }
}

/// Lowers one op to rows; returns its output wires, row-major.
pub(crate) fn lower(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    match &cx.op.kind {
        QOpKind::Dense(op) => linear::dense(b, cx, op),
        QOpKind::MatMul(op) => linear::matmul(b, cx, op),
        QOpKind::Conv(op) => linear::conv(b, cx, op),
        QOpKind::ConvTranspose(op) => linear::conv_transpose(b, cx, op),
        QOpKind::Add(op) => elementwise::add(b, cx, op),
        QOpKind::Mul(op) => elementwise::mul(b, cx, op),
        QOpKind::Affine(op) => elementwise::affine(b, cx, op),
        QOpKind::Sum(op) => elementwise::sum(b, cx, op),
        QOpKind::Extremum(op) => elementwise::extremum(b, cx, op),
        QOpKind::Relu(_) => activation::relu(b, cx),
        QOpKind::LeakyRelu(op) => activation::leaky_relu(b, cx, op),
        QOpKind::PRelu(op) => activation::prelu(b, cx, op),
        QOpKind::Clip(op) => activation::clip(b, cx, op),
        QOpKind::Abs(_) => activation::abs(b, cx),
        QOpKind::Sign(_) => activation::sign(b, cx),
        QOpKind::Lookup(op) => lookup::lookup(b, cx, op),
        QOpKind::Embedding(op) => lookup::embedding(b, cx, op),
        QOpKind::Compare(op) => compare::compare(b, cx, op),
        QOpKind::Where(op) => compare::where_(b, cx, op),
        QOpKind::AvgPool(op) => pool::avg_pool(b, cx, op),
        QOpKind::MaxPool(op) => pool::max_pool(b, cx, op),
        QOpKind::GlobalAvgPool(_) => pool::global_avg_pool(b, cx),
        QOpKind::Reduce(op) => reduce::reduce(b, cx, op),
        QOpKind::ArgMax(op) => reduce::arg_max(b, cx, op),
        QOpKind::Reshape(_) => shape::reshape(cx),
        QOpKind::Transpose(op) => shape::wiring(b, cx, op),
        QOpKind::Pad(op) => shape::wiring(b, cx, op),
        QOpKind::Slice(op) => shape::wiring(b, cx, op),
        QOpKind::Concat(op) => shape::wiring(b, cx, op),
        QOpKind::Repeat(op) => shape::wiring(b, cx, op),
        QOpKind::Gather(op) => shape::wiring(b, cx, op),
        QOpKind::Resize(op) => shape::wiring(b, cx, op),
    }
}

/// What estimating one op's rows sees (no wires: shapes only).
pub(crate) struct RowsCx<'a> {
    /// The op.
    pub op: &'a QOp,
    /// Shapes of the activation inputs.
    pub in_shapes: Vec<&'a [usize]>,
    /// The output's shape.
    pub out_shape: &'a [usize],
    /// Products per multiply-accumulate row.
    pub width: u64,
}

impl RowsCx<'_> {
    /// Output elements.
    pub fn outputs(&self) -> u64 {
        self.out_shape.iter().product::<usize>() as u64
    }
}

/// The rows one op's lowering will use, from shapes alone (exact for all but padded
/// convolutions, where it is an upper bound): what [`crate::cost::estimate`] sums.
pub(crate) fn rows(cx: &RowsCx<'_>) -> u64 {
    let product = |s: &[usize]| s.iter().product::<usize>() as u64;
    match &cx.op.kind {
        QOpKind::Dense(op) => linear::rows(cx, op.k as u64),
        QOpKind::MatMul(_) => linear::matmul_rows(cx),
        QOpKind::Conv(op) => linear::rows(cx, product(&op.weight_shape[1..])),
        QOpKind::ConvTranspose(op) => {
            let stride = product(&op.strides).max(1);
            let per_group = op.weight_shape[0] as u64 / op.groups.max(1) as u64;
            linear::rows(cx, (per_group * product(&op.weight_shape[2..])).div_ceil(stride))
        }
        QOpKind::Add(_) | QOpKind::Mul(_) | QOpKind::Affine(_) | QOpKind::Sum(_) | QOpKind::Extremum(_) => {
            elementwise::rows(cx)
        }
        QOpKind::Relu(_)
        | QOpKind::LeakyRelu(_)
        | QOpKind::PRelu(_)
        | QOpKind::Clip(_)
        | QOpKind::Abs(_)
        | QOpKind::Sign(_) => activation::rows(cx),
        QOpKind::Lookup(_) => lookup::rows(cx),
        QOpKind::Embedding(_) => lookup::embedding_rows(cx),
        QOpKind::Compare(_) | QOpKind::Where(_) => compare::rows(cx),
        QOpKind::AvgPool(_) | QOpKind::MaxPool(_) | QOpKind::GlobalAvgPool(_) => pool::rows(cx),
        QOpKind::Reduce(op) => reduce::rows(cx, op),
        QOpKind::ArgMax(_) => reduce::arg_max_rows(cx),
        QOpKind::Reshape(_)
        | QOpKind::Transpose(_)
        | QOpKind::Pad(_)
        | QOpKind::Slice(_)
        | QOpKind::Concat(_)
        | QOpKind::Repeat(_)
        | QOpKind::Gather(_)
        | QOpKind::Resize(_) => shape::rows(cx),
    }
}
