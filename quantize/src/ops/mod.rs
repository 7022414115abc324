//! The op registry: every op family in one file each, with its ONNX import,
//! its quantization rule and its integer semantics side by side.
//!
//! | family file | ops | kind (EZKL's taxonomy) |
//! |---|---|---|
//! | [`linear`] | Gemm, MatMul (× constant, or of two activations), Conv, ConvTranspose | linear: multiply-accumulate rows + a rescale |
//! | [`elementwise`] | Add, Sub, Mul, Div by a constant, Sum, Mean, Max, Min, Neg, BatchNormalization | linear: one row per element (Max/Min: hybrid) |
//! | [`activation`] | Relu, LeakyRelu, PRelu, Clip, Abs, Sign, QuantizeLinear → DequantizeLinear pairs | hybrid: sign bits and selects |
//! | [`lookup`] | Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal, Softplus, Softsign, Elu, Selu, Celu, HardSigmoid, HardSwish, Erf, Gelu, Mish, ThresholdedRelu, Shrink, Sin, Cos, Atan; Gather of a constant by run-time indices (embeddings) | lookup: a function table |
//! | [`compare`] | Equal, Less, LessOrEqual, Greater, GreaterOrEqual, Not (a boolean at scale 0), Where | hybrid: sign bits and selects |
//! | [`pool`] | AveragePool, MaxPool, GlobalAveragePool | linear (average) or hybrid (max) |
//! | [`reduce`] | ReduceSum, ReduceMean, ReduceMax, ReduceMin, GlobalMaxPool, ArgMax, ArgMin, TopK (k = 1) | linear (sum, mean) or hybrid (max, min, arg) |
//! | `composite` | LogSoftmax, Softmax, Div by an activation, InstanceNormalization, LRN (expanded into the others in the ONNX graph) | — |
//! | [`shape`] | Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Pad, Slice, Split, Concat, Tile, Expand, Gather (constant indices), Resize/Upsample (nearest), Identity, Dropout, Cast, final Softmax | wiring: no rows |
//!
//! Each family defines, for each of its ops, a float struct (`Float*`, what
//! import produces; constants as `f32` arrays) implementing [`FloatOp`], and a
//! quantized struct (what [`QOpKind`] holds; integers, shifts) implementing
//! [`QuantizedOp`], whose doc comment states the exact integer semantics. The
//! circuit compiler lowers each quantized struct to rows in
//! `circuits/src/layers/<family>.rs`, the file of the same name.
//!
//! Adding an op is the recipe in `docs/adding-an-op.md`: write both structs in
//! the family file, add one line to [`IMPORTERS`] per ONNX op type, one line
//! to the `op_set!` lists below, and its lowering in the circuits crate.

pub mod activation;
pub mod compare;
pub(crate) mod composite;
pub mod elementwise;
pub mod grid;
pub mod linear;
pub mod lookup;
pub mod pool;
pub mod reduce;
pub mod shape;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::onnx::Node;
use crate::qmodel::{QTensor, QuantConfig};

/// What an importer made of one ONNX node.
pub(crate) enum Imported {
    /// A provable op reading the node's activation inputs.
    Op(FloatOpKind),
    /// One op per output of the node (e.g. Split), each reading the node's activation inputs.
    PerOutput(Vec<FloatOpKind>),
    /// A provable op reading the given activations (e.g. `x·x` for `Pow(x, 2)`).
    OpOn(FloatOpKind, Vec<String>),
    /// A provable op with a note for the model's report.
    Noted(FloatOpKind, String),
    /// No op yet: the output is an integer tensor `q = saturate(round(x / s) + z)` of the
    /// first activation input, which only a DequantizeLinear may read (a QDQ pair).
    Quantized(QdqScale),
    /// No op: the output is the (first) activation input under another name
    /// (Identity, Dropout in inference), with an optional note for the report.
    Alias(Option<String>),
}

/// The parameters of a QuantizeLinear: per-tensor scale, zero point and integer range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct QdqScale {
    /// `s`.
    pub scale: f64,
    /// `z`.
    pub zero: f64,
    /// The integer type's range.
    pub range: (f64, f64),
}

/// Imports one ONNX node; `Err` names the op, the node and what is missing.
pub(crate) type ImportFn = fn(&Node<'_>) -> Result<Imported>;

/// ONNX op type → importer. An op type not listed here is refused at import
/// with [`QuantizeError::UnsupportedOp`] naming it and its node.
pub(crate) const IMPORTERS: &[(&str, ImportFn)] = &[
    ("Gemm", linear::import_gemm),
    ("MatMul", linear::import_matmul),
    ("Conv", linear::import_conv),
    ("ConvTranspose", linear::import_conv),
    ("Add", elementwise::import_arith),
    ("Sub", elementwise::import_arith),
    ("Mul", elementwise::import_arith),
    ("Div", elementwise::import_arith),
    ("BatchNormalization", elementwise::import_batch_norm),
    ("Sum", elementwise::import_nary),
    ("Mean", elementwise::import_nary),
    ("Max", elementwise::import_nary),
    ("Min", elementwise::import_nary),
    ("Neg", activation::import_neg),
    ("Relu", activation::import_relu),
    ("LeakyRelu", activation::import_leaky_relu),
    ("PRelu", activation::import_prelu),
    ("Clip", activation::import_clip),
    ("Abs", activation::import_abs),
    ("Sign", activation::import_sign),
    ("Sigmoid", lookup::import_lookup),
    ("Tanh", lookup::import_lookup),
    ("Exp", lookup::import_lookup),
    ("Log", lookup::import_lookup),
    ("Sqrt", lookup::import_lookup),
    ("Reciprocal", lookup::import_lookup),
    ("Softplus", lookup::import_lookup),
    ("Softsign", lookup::import_lookup),
    ("Elu", lookup::import_lookup),
    ("Selu", lookup::import_lookup),
    ("Celu", lookup::import_lookup),
    ("HardSigmoid", lookup::import_lookup),
    ("HardSwish", lookup::import_lookup),
    ("Erf", lookup::import_lookup),
    ("Gelu", lookup::import_lookup),
    ("Mish", lookup::import_lookup),
    ("ThresholdedRelu", lookup::import_lookup),
    ("Shrink", lookup::import_lookup),
    ("Sin", lookup::import_lookup),
    ("Cos", lookup::import_lookup),
    ("Atan", lookup::import_lookup),
    ("Pow", lookup::import_pow),
    ("AveragePool", pool::import_pool),
    ("MaxPool", pool::import_pool),
    ("GlobalAveragePool", pool::import_global_pool),
    ("GlobalMaxPool", reduce::import_reduce),
    ("ReduceSum", reduce::import_reduce),
    ("ReduceMean", reduce::import_reduce),
    ("ReduceMax", reduce::import_reduce),
    ("ReduceMin", reduce::import_reduce),
    ("ArgMax", reduce::import_arg),
    ("ArgMin", reduce::import_arg),
    ("TopK", reduce::import_arg),
    ("Flatten", shape::import_reshape),
    ("Reshape", shape::import_reshape),
    ("Squeeze", shape::import_reshape),
    ("Unsqueeze", shape::import_reshape),
    ("Transpose", shape::import_transpose),
    ("Pad", shape::import_pad),
    ("Slice", shape::import_slice),
    ("Split", shape::import_split),
    ("Concat", shape::import_concat),
    ("Tile", shape::import_repeat),
    ("Expand", shape::import_repeat),
    ("Gather", shape::import_gather),
    ("Resize", shape::import_resize),
    ("Upsample", shape::import_resize),
    ("QuantizeLinear", activation::import_quantize),
    ("DequantizeLinear", activation::import_dequantize),
    ("Identity", shape::import_identity),
    ("Cast", shape::import_cast),
    ("Equal", compare::import_compare),
    ("Less", compare::import_compare),
    ("LessOrEqual", compare::import_compare),
    ("Greater", compare::import_compare),
    ("GreaterOrEqual", compare::import_compare),
    ("Not", compare::import_compare),
    ("Where", compare::import_where),
    ("Dropout", shape::import_identity),
    ("Softmax", shape::import_final_softmax),
];

/// The importer of an ONNX op type, if zkinfer has one.
pub(crate) fn importer(op_type: &str) -> Option<ImportFn> {
    IMPORTERS.iter().find(|(t, _)| *t == op_type).map(|(_, f)| *f)
}

/// ONNX op types zkinfer imports as runtime ops.
pub fn supported_op_types() -> Vec<&'static str> {
    IMPORTERS.iter().map(|(t, _)| *t).collect()
}

/// What quantizing one op knows: its inputs' scales and calibrated ranges, and the budgets.
pub struct QuantCx<'a> {
    /// Scale (`scale_bits`) of each activation input.
    pub s_in: Vec<i32>,
    /// Shapes of the activation inputs.
    pub in_shapes: Vec<&'a [usize]>,
    /// Shape of the output.
    pub out_shape: &'a [usize],
    /// Smallest and largest value of each activation input seen in calibration (`None`
    /// without calibration data).
    pub in_ranges: Vec<Option<(f64, f64)>>,
    /// Largest magnitude of the output seen in calibration.
    pub out_max_abs: f64,
    /// The bit budgets.
    pub config: &'a QuantConfig,
}

/// Bounds on chosen scales, so that an all-zero tensor cannot ask for absurd shifts.
pub(crate) const MIN_SCALE_BITS: i32 = -24;
/// See [`MIN_SCALE_BITS`].
pub(crate) const MAX_SCALE_BITS: i32 = 24;

impl QuantCx<'_> {
    /// The largest activation scale at which `max_abs` fits the activation range with headroom.
    pub fn act_scale(&self, max_abs: f64) -> i32 {
        let c = self.config;
        let limit = ((1u64 << (c.act_bits - 1)) - 1) as f64 / (c.headroom_bits as f64).exp2();
        crate::fixed::fit_scale_bits(max_abs, limit, MIN_SCALE_BITS, MAX_SCALE_BITS)
    }

    /// The output's calibrated scale.
    pub fn calibrated(&self) -> i32 {
        self.act_scale(self.out_max_abs)
    }

    /// The largest scale at which a constant of magnitude `max_abs` fits `weight_bits`.
    pub fn weight_scale(&self, max_abs: f64) -> i32 {
        let limit = ((1u64 << (self.config.weight_bits - 1)) - 1) as f64;
        crate::fixed::fit_scale_bits(max_abs, limit, MIN_SCALE_BITS, 40)
    }

    /// The largest magnitude in `a`.
    pub fn max_abs(a: &ArrayD<f32>) -> f64 {
        a.iter().fold(0.0f64, |m, v| m.max((*v as f64).abs()))
    }
}

/// A float op as imported: it knows how to quantize itself.
pub trait FloatOp {
    /// The quantized op and its output scale.
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)>;
}

/// What executing one op sees.
pub struct ExecCx<'a> {
    /// Activation inputs, in op order.
    pub inputs: Vec<&'a ArrayD<i64>>,
    /// Shape of the output.
    pub out_shape: &'a [usize],
    /// The bit budgets.
    pub config: &'a QuantConfig,
}

impl ExecCx<'_> {
    /// Number of output elements.
    pub fn numel(&self) -> usize {
        self.out_shape.iter().product()
    }
}

/// What structural validation of one op sees.
pub struct ValidateCx<'a> {
    /// Activation input tensors.
    pub inputs: Vec<&'a QTensor>,
    /// Output tensor.
    pub output: &'a QTensor,
    /// The bit budgets.
    pub config: &'a QuantConfig,
}

/// A quantized op: exact integer semantics, checked structure.
pub trait QuantizedOp {
    /// Short name of the op (`"dense"`), as [`QOpKind::family`] reports it.
    const NAME: &'static str;
    /// Number of activation inputs.
    fn arity(&self) -> usize {
        1
    }
    /// Structural checks (parameter lengths, shapes) against its tensors; `Err` says what is wrong.
    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String>;
    /// The output values, row-major, before the activation range check. `Err` names the problem.
    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String>;
}

macro_rules! op_set {
    ($( $(#[$m:meta])* $variant:ident($float:ty, $quant:ty) ),* $(,)?) => {
        /// One quantized op: what it computes on integers, exactly (each variant's
        /// struct documents its semantics).
        ///
        /// `rescale(z, s)` and `div_round` are defined in [`crate::fixed`] (round half
        /// up). After each op every output value must lie in the activation range of
        /// [`QuantConfig::act_bits`]; a value outside is an error, not a clamp.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        pub enum QOpKind {
            $( $(#[$m])* $variant($quant), )*
        }

        /// One imported float op.
        #[derive(Clone, Debug)]
        pub enum FloatOpKind {
            $( $(#[$m])* $variant($float), )*
        }

        impl QOpKind {
            /// Short name of the op.
            pub fn family(&self) -> &'static str {
                match self { $( QOpKind::$variant(_) => <$quant as QuantizedOp>::NAME, )* }
            }
            /// Number of activation inputs.
            pub fn arity(&self) -> usize {
                match self { $( QOpKind::$variant(op) => op.arity(), )* }
            }
            /// See [`QuantizedOp::validate`].
            pub fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
                match self { $( QOpKind::$variant(op) => op.validate(cx), )* }
            }
            /// See [`QuantizedOp::exec`].
            pub fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
                match self { $( QOpKind::$variant(op) => op.exec(cx), )* }
            }
        }

        impl FloatOpKind {
            /// See [`FloatOp::quantize`].
            pub fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
                match self { $( FloatOpKind::$variant(op) => op.quantize(cx), )* }
            }
        }
    };
}

op_set! {
    /// See [`linear::Dense`].
    Dense(linear::FloatDense, linear::Dense),
    /// See [`linear::MatMul`].
    MatMul(linear::FloatMatMul, linear::MatMul),
    /// See [`linear::Conv`].
    Conv(linear::FloatConv, linear::Conv),
    /// See [`linear::ConvTranspose`].
    ConvTranspose(linear::FloatConvTranspose, linear::ConvTranspose),
    /// See [`elementwise::Add`].
    Add(elementwise::FloatAdd, elementwise::Add),
    /// See [`elementwise::Mul`].
    Mul(elementwise::FloatMul, elementwise::Mul),
    /// See [`elementwise::Affine`].
    Affine(elementwise::FloatAffine, elementwise::Affine),
    /// See [`elementwise::Sum`].
    Sum(elementwise::FloatSum, elementwise::Sum),
    /// See [`elementwise::Extremum`].
    Extremum(elementwise::FloatExtremum, elementwise::Extremum),
    /// See [`activation::Relu`].
    Relu(activation::FloatRelu, activation::Relu),
    /// See [`activation::LeakyRelu`].
    LeakyRelu(activation::FloatLeakyRelu, activation::LeakyRelu),
    /// See [`activation::PRelu`].
    PRelu(activation::FloatPRelu, activation::PRelu),
    /// See [`activation::Clip`].
    Clip(activation::FloatClip, activation::Clip),
    /// See [`activation::Abs`].
    Abs(activation::FloatAbs, activation::Abs),
    /// See [`activation::Sign`].
    Sign(activation::FloatSign, activation::Sign),
    /// See [`lookup::Lookup`].
    Lookup(lookup::FloatLookup, lookup::Lookup),
    /// See [`compare::Compare`].
    Compare(compare::FloatCompare, compare::Compare),
    /// See [`compare::Where`].
    Where(compare::FloatWhere, compare::Where),
    /// See [`lookup::Embedding`].
    Embedding(lookup::FloatEmbedding, lookup::Embedding),
    /// See [`pool::AvgPool`].
    AvgPool(pool::FloatAvgPool, pool::AvgPool),
    /// See [`pool::MaxPool`].
    MaxPool(pool::FloatMaxPool, pool::MaxPool),
    /// See [`pool::GlobalAvgPool`].
    GlobalAvgPool(pool::FloatGlobalAvgPool, pool::GlobalAvgPool),
    /// See [`reduce::Reduce`].
    Reduce(reduce::FloatReduce, reduce::Reduce),
    /// See [`reduce::ArgMax`].
    ArgMax(reduce::FloatArgMax, reduce::ArgMax),
    /// See [`shape::Reshape`].
    Reshape(shape::FloatReshape, shape::Reshape),
    /// See [`shape::Transpose`].
    Transpose(shape::FloatTranspose, shape::Transpose),
    /// See [`shape::Pad`].
    Pad(shape::FloatPad, shape::Pad),
    /// See [`shape::Slice`].
    Slice(shape::FloatSlice, shape::Slice),
    /// See [`shape::Concat`].
    Concat(shape::FloatConcat, shape::Concat),
    /// See [`shape::Repeat`].
    Repeat(shape::FloatRepeat, shape::Repeat),
    /// See [`shape::Gather`].
    Gather(shape::FloatGather, shape::Gather),
    /// See [`shape::Resize`].
    Resize(shape::FloatResize, shape::Resize),
}
