//! Non-linear functions by table: Sigmoid, Tanh, Exp, Log, Sqrt, Reciprocal,
//! Softplus, Softsign, Elu, Selu, Celu, HardSigmoid, HardSwish, Erf, Gelu,
//! Mish, ThresholdedRelu, Shrink, Sin, Cos, Atan.
//!
//! Numerical error: every input of a bucket gets the value at the bucket's
//! midpoint, so the error is at most half a bucket times the function's slope
//! there, plus half an output quantum; at a discontinuity (ThresholdedRelu,
//! Shrink) inputs within half a bucket of it may take the other side's value.
//! A table covers the calibrated input range widened by the headroom, cut to
//! the function's domain, in the widest buckets whose error on the calibrated
//! range stays within [`TABLE_ERROR`] (0.2%) of the function's largest
//! magnitude there, with at most `2^table_bits` entries.
//! Measured (16 activation bits, `table_bits` 16, calibrated on the range
//! shown; `table_functions_within_their_error_bound` in `quantize/tests/ops.rs`):
//!
//! | function | range | max error | entries | | function | range | max error | entries |
//! |---|---|---|---|---|---|---|---|---|
//! | Sigmoid | ±6 | 0.0017 | 1537 | | Elu, Celu | ±4 | 0.0077 | 1025 |
//! | Tanh | ±3 | 0.0015 | 3073 | | Selu | ±4 | 0.0044 | 2049 |
//! | Exp | [−4, 2] | 0.011 (of 7.4) | 3073 | | HardSigmoid | ±4 | 0.0015 | 1025 |
//! | Log | [¼, 8] | 0.0010 | 6145 | | HardSwish | ±4 | 0.0055 | 2049 |
//! | Sqrt | [¼, 8] | 0.0032 | 1537 | | Erf | ±3 | 0.0010 | 6145 |
//! | Reciprocal | [½, 8] | 0.0014 (of 2) | 7937 | | Gelu | ±4 | 0.0041 | 2049 |
//! | Softplus | ±4 | 0.0071 | 1025 | | Mish | ±4 | 0.0039 | 2049 |
//! | Softsign | ±4 | 0.0003 | 8193 | | Sin, Cos | ±3 | 0.0019 | 3073 |
//! | Shrink | ±4 | 0.0039 | 2049 | | Atan | ±4 | 0.0014 | 4097 |
//! | ThresholdedRelu | ±4 | 0.0077 | 1025 | | | | | |
//!
//! The input shifted right by the bucket width's bits indexes the table; the circuit proves the index
//! by a decomposition row and the output by a lookup
//! (`circuits/src/layers/lookup.rs`).

use serde::{Deserialize, Serialize};

use super::activation::same_shape;
use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{floor_shift, quantize_value};
use crate::onnx::Node;

/// The function a [`Lookup`] table tabulates (its name: the table is the semantics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupFn {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `e^x`.
    Exp,
    /// `ln x` (`x > 0`).
    Log,
    /// `√x` (`x ≥ 0`).
    Sqrt,
    /// `1 / x` (`x ≠ 0`).
    Reciprocal,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x ≥ 0 ? x : α(e^x − 1)`.
    Elu,
    /// `γ·(x > 0 ? x : α(e^x − 1))`.
    Selu,
    /// `max(0, x) + min(0, α(e^(x/α) − 1))`.
    Celu,
    /// `max(0, min(1, αx + β))`.
    HardSigmoid,
    /// `x · max(0, min(1, x/6 + 1/2))`.
    HardSwish,
    /// The error function.
    Erf,
    /// `x/2 · (1 + erf(x/√2))`, or its tanh approximation.
    Gelu,
    /// `x · tanh(softplus(x))`.
    Mish,
    /// `x > α ? x : 0`.
    ThresholdedRelu,
    /// `x < −λ ? x + bias : x > λ ? x − bias : 0`.
    Shrink,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Arc tangent.
    Atan,
    /// `x^α` for a constant `α`.
    Pow,
}

/// A unary function with its ONNX attributes, as import finds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnaryFn {
    /// Which function.
    pub func: LookupFn,
    /// `alpha` (Elu, Selu, Celu, HardSigmoid, ThresholdedRelu) or `lambd` (Shrink).
    pub alpha: f64,
    /// `gamma` (Selu), `beta` (HardSigmoid), `bias` (Shrink); for Gelu 1 selects the tanh form.
    pub beta: f64,
}

/// The error function (Abramowitz & Stegun 7.1.26 refined: |error| < 1.2e-7).
pub fn erf(x: f64) -> f64 {
    // Numerical Recipes' erfc with Chebyshev coefficients.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { 1.0 - r } else { r - 1.0 }
}

impl UnaryFn {
    /// The function on floats (NaN where it is undefined).
    pub fn eval(&self, x: f64) -> f64 {
        let (a, b) = (self.alpha, self.beta);
        match self.func {
            LookupFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            LookupFn::Tanh => x.tanh(),
            LookupFn::Exp => x.exp(),
            LookupFn::Log => {
                if x > 0.0 {
                    x.ln()
                } else {
                    f64::NAN
                }
            }
            LookupFn::Sqrt => {
                if x >= 0.0 {
                    x.sqrt()
                } else {
                    f64::NAN
                }
            }
            LookupFn::Reciprocal => {
                if x != 0.0 {
                    1.0 / x
                } else {
                    f64::NAN
                }
            }
            LookupFn::Softplus => {
                if x > 30.0 {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
            LookupFn::Softsign => x / (1.0 + x.abs()),
            LookupFn::Elu => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            LookupFn::Selu => b * if x > 0.0 { x } else { a * x.exp_m1() },
            LookupFn::Celu => x.max(0.0) + (a * (x / a).exp_m1()).min(0.0),
            LookupFn::HardSigmoid => (a * x + b).clamp(0.0, 1.0),
            LookupFn::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            LookupFn::Erf => erf(x),
            LookupFn::Gelu if b == 1.0 => {
                0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            }
            LookupFn::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            LookupFn::Mish => x * (if x > 30.0 { x } else { x.exp().ln_1p() }).tanh(),
            LookupFn::ThresholdedRelu => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            LookupFn::Shrink => {
                if x < -a {
                    x + b
                } else if x > a {
                    x - b
                } else {
                    0.0
                }
            }
            LookupFn::Sin => x.sin(),
            LookupFn::Cos => x.cos(),
            LookupFn::Atan => x.atan(),
            LookupFn::Pow => x.powf(a),
        }
    }

    /// A bound on `|f(x)|` over all inputs, when the function has one.
    fn bound(&self) -> Option<f64> {
        match self.func {
            LookupFn::Sigmoid | LookupFn::Tanh | LookupFn::Softsign | LookupFn::HardSigmoid | LookupFn::Erf => {
                Some(1.0)
            }
            LookupFn::Sin | LookupFn::Cos => Some(1.0),
            LookupFn::Atan => Some(std::f64::consts::FRAC_PI_2),
            _ => None,
        }
    }
}

/// Float `f(x)`.
#[derive(Clone, Debug)]
pub struct FloatLookup {
    /// The function.
    pub func: UnaryFn,
}

/// `y = table[⌊x / 2^in_shift⌋ − base]`: each entry the function at its bucket's midpoint,
/// rounded at the output scale. The table covers the calibrated input range, widened by the
/// headroom and cut to the function's domain, with the fewest entries (at most
/// `2^table_bits`) whose bucketing error meets [`TABLE_ERROR`]. An entry is absent (`null`)
/// where the function is undefined or its value leaves the activation range; an input outside
/// the table or at an absent entry can be neither executed nor proved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// The function tabulated.
    pub func: LookupFn,
    /// Bucket width: `2^in_shift` input quanta.
    pub in_shift: u32,
    /// `⌊x / 2^in_shift⌋` of the first entry's bucket. Absent in models written before tables
    /// were sized to calibration, whose tables cover the whole activation range: then
    /// `−len/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<i64>,
    /// The outputs of buckets `base, base + 1, …`.
    pub table: Vec<Option<i64>>,
}

/// The bucketing error a table aims for: this fraction of the function's largest magnitude
/// on the calibrated range (or two output quanta, if more). Tables grow until they meet it
/// or reach `2^table_bits` entries.
pub const TABLE_ERROR: f64 = 0.002;

/// The smallest tables tried.
const MIN_TABLE_BITS: u32 = 4;

impl Lookup {
    /// The index of the first entry.
    pub fn base(&self) -> i64 {
        self.base.unwrap_or(-(self.table.len() as i64 / 2))
    }

    /// The output for input `v`, or why there is none.
    pub fn get(&self, v: i64) -> Result<i64, String> {
        let i = floor_shift(v as i128, self.in_shift) - self.base() as i128;
        match usize::try_from(i).ok().and_then(|i| self.table.get(i)) {
            Some(Some(t)) => Ok(*t),
            Some(None) => {
                Err(format!("{:?} of input {v} is undefined or outside the activation range at this scale", self.func))
            }
            None => {
                let lo = (self.base() as i128) << self.in_shift;
                let hi = ((self.base() as i128 + self.table.len() as i128) << self.in_shift) - 1;
                Err(format!(
                    "input {v} is outside the {:?} table's inputs [{lo}, {hi}] (the calibrated range widened by the \
                     headroom): calibrate on data that reaches it",
                    self.func
                ))
            }
        }
    }
}

impl UnaryFn {
    /// The inputs where the function is defined, as far as a table's window goes.
    fn domain(&self) -> (f64, f64) {
        match self.func {
            LookupFn::Log | LookupFn::Sqrt => (0.0, f64::INFINITY),
            LookupFn::Pow if self.alpha.fract() != 0.0 => (0.0, f64::INFINITY),
            _ => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    /// Where the function jumps.
    fn jumps(&self) -> Vec<f64> {
        match self.func {
            LookupFn::ThresholdedRelu => vec![self.alpha],
            LookupFn::Shrink => vec![-self.alpha, self.alpha],
            _ => vec![],
        }
    }

    /// The largest `|f(x) − f(bucket midpoint)|` over inputs `x ∈ [lo, hi]` (quanta at scale
    /// `s_in`), buckets of `2^shift` quanta; and the largest `|f|` there. Points where `f` is
    /// undefined are skipped, and so are points across a jump from their bucket's midpoint
    /// (no bucket width removes that error; the op's docs state it).
    fn bucket_error(&self, lo: i64, hi: i64, shift: u32, s_in: i32) -> (f64, f64) {
        let unit = (-s_in as f64).exp2();
        let width = 1i64 << shift;
        let jumps = self.jumps();
        let (mut err, mut mag) = (0.0f64, 0.0f64);
        for i in (lo >> shift)..=(hi >> shift) {
            let (a, b) = ((i * width).max(lo), (i * width + width - 1).min(hi));
            let mid = ((i * width) as f64 + (width - 1) as f64 / 2.0) * unit;
            let m = self.eval(mid);
            for k in 0..=4 {
                let x = (a as f64 + (b - a) as f64 * k as f64 / 4.0) * unit;
                let y = self.eval(x);
                if y.is_finite() {
                    mag = mag.max(y.abs());
                    let across = jumps.iter().any(|&j| x == j || (x > j) != (mid > j));
                    if m.is_finite() && !across {
                        err = err.max((y - m).abs());
                    }
                }
            }
        }
        (err, mag)
    }
}

impl FloatOp for FloatLookup {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        // A bounded function gets the scale of its bound (no input can overflow it); any
        // other the output's calibrated scale.
        let s_out = match self.func.bound() {
            Some(b) => cx.act_scale(b),
            None => cx.calibrated(),
        };
        let c = cx.config;
        let s_in = cx.s_in[0];
        let (amin, amax) = crate::fixed::signed_range(c.act_bits);
        let quanta = |v: f64| (quantize_value(v, s_in) as i128).clamp(amin, amax) as i64;
        let (dlo, dhi) = self.func.domain();
        // The inputs calibration saw, and the window the table covers: that range widened by
        // the headroom (the activation range has room for 2^headroom_bits times the calibrated
        // magnitude; the table gives the same room on either side), within the domain.
        let (seen, window) = match cx.in_ranges[0] {
            Some((lo, hi)) => {
                let widen = (hi - lo).max(lo.abs().max(hi.abs())) * ((c.headroom_bits as f64).exp2() - 1.0) / 2.0;
                let seen = (quanta(lo.max(dlo)), quanta(hi.min(dhi)));
                (Some(seen), (quanta((lo - widen).max(dlo)), quanta((hi + widen).min(dhi))))
            }
            None => (None, (quanta(dlo), quanta(dhi))),
        };
        let out_quantum = (-s_out as f64).exp2();
        let shift_for = |bits: u32| {
            (0..c.act_bits).find(|&s| (window.1 >> s) - (window.0 >> s) < 1i64 << bits).unwrap_or(c.act_bits)
        };
        let mut in_shift = shift_for(c.table_bits);
        if let Some((lo, hi)) = seen.filter(|(lo, hi)| lo <= hi) {
            for bits in MIN_TABLE_BITS.min(c.table_bits)..c.table_bits {
                let shift = shift_for(bits);
                let (err, mag) = self.func.bucket_error(lo, hi, shift, s_in);
                if err <= (TABLE_ERROR * mag).max(2.0 * out_quantum) {
                    in_shift = shift;
                    break;
                }
            }
        }
        let base = window.0 >> in_shift;
        let len = ((window.1 >> in_shift) - base + 1) as usize;
        let table = lookup_table(&self.func, s_in, s_out, in_shift, base, len, c.act_bits);
        Ok((QOpKind::Lookup(Lookup { func: self.func.func, in_shift, base: Some(base), table }), s_out))
    }
}

impl QuantizedOp for Lookup {
    const NAME: &'static str = "lookup";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.table.is_empty() || self.table.len() > 1usize << cx.config.table_bits {
            return Err(format!("table length {} (1 to 2^table_bits)", self.table.len()));
        }
        if self.in_shift >= cx.config.act_bits {
            return Err(format!("bucket shift {} (below act_bits)", self.in_shift));
        }
        let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
        if let Some(v) = self.table.iter().flatten().find(|&&v| (v as i128) < lo || (v as i128) > hi) {
            return Err(format!("table entry {v} is outside the {}-bit activation range", cx.config.act_bits));
        }
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        cx.inputs[0].iter().map(|&v| self.get(v).map(|t| t as i128)).collect()
    }
}

/// The table of a [`Lookup`]: entry `j` is `f` at the midpoint of the bucket
/// `[i·2^d, (i+1)·2^d − 1]`, `i = base + j` (input scale `s_in`), quantized at `s_out`;
/// absent where `f` is undefined or the value leaves the `act_bits` range.
pub fn lookup_table(
    func: &UnaryFn,
    s_in: i32,
    s_out: i32,
    in_shift: u32,
    base: i64,
    len: usize,
    act_bits: u32,
) -> Vec<Option<i64>> {
    let width = 1i64 << in_shift;
    let (lo, hi) = crate::fixed::signed_range(act_bits);
    (base..base + len as i64)
        .map(|i| {
            let mid = (i * width) as f64 + (width - 1) as f64 / 2.0;
            let y = func.eval(mid * (-s_in as f64).exp2());
            let q = quantize_value(y, s_out) as i128;
            (y.is_finite() && (lo..=hi).contains(&q)).then_some(q as i64)
        })
        .collect()
}

pub(crate) fn import_lookup(node: &Node<'_>) -> Result<Imported> {
    let attr = |n: &str, d: f32| node.attr_f(n).unwrap_or(d) as f64;
    let (func, alpha, beta) = match node.op {
        "Sigmoid" => (LookupFn::Sigmoid, 0.0, 0.0),
        "Tanh" => (LookupFn::Tanh, 0.0, 0.0),
        "Exp" => (LookupFn::Exp, 0.0, 0.0),
        "Log" => (LookupFn::Log, 0.0, 0.0),
        "Sqrt" => (LookupFn::Sqrt, 0.0, 0.0),
        "Reciprocal" => (LookupFn::Reciprocal, 0.0, 0.0),
        "Softplus" => (LookupFn::Softplus, 0.0, 0.0),
        "Softsign" => (LookupFn::Softsign, 0.0, 0.0),
        "Elu" => (LookupFn::Elu, attr("alpha", 1.0), 0.0),
        "Selu" => (LookupFn::Selu, attr("alpha", 1.673_263_2), attr("gamma", 1.050_701)),
        "Celu" => (LookupFn::Celu, attr("alpha", 1.0), 0.0),
        "HardSigmoid" => (LookupFn::HardSigmoid, attr("alpha", 0.2), attr("beta", 0.5)),
        "HardSwish" => (LookupFn::HardSwish, 0.0, 0.0),
        "Erf" => (LookupFn::Erf, 0.0, 0.0),
        "Gelu" => {
            let tanh = match node.attr_s("approximate").as_deref().unwrap_or("none") {
                "none" => 0.0,
                "tanh" => 1.0,
                other => return Err(node.unsup(format!("approximate `{other}`"))),
            };
            (LookupFn::Gelu, 0.0, tanh)
        }
        "Mish" => (LookupFn::Mish, 0.0, 0.0),
        "ThresholdedRelu" => (LookupFn::ThresholdedRelu, attr("alpha", 1.0), 0.0),
        "Shrink" => (LookupFn::Shrink, attr("lambd", 0.5), attr("bias", 0.0)),
        "Sin" => (LookupFn::Sin, 0.0, 0.0),
        "Cos" => (LookupFn::Cos, 0.0, 0.0),
        "Atan" => (LookupFn::Atan, 0.0, 0.0),
        other => return Err(node.unsup(format!("no table for `{other}`"))),
    };
    if func == LookupFn::Celu && alpha == 0.0 {
        return Err(node.unsup("alpha 0"));
    }
    Ok(Imported::Op(FloatOpKind::Lookup(FloatLookup { func: UnaryFn { func, alpha, beta } })))
}

/// Pow with a constant exponent: `x·x` exactly for 2, else a table.
pub(crate) fn import_pow(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() != 1 || node.ins.first() != Some(&node.acts[0]) {
        return Err(node.unsup("the exponent must be a constant (and the base not)"));
    }
    let e = node.const_array(&node.ins[1])?;
    if e.len() != 1 {
        return Err(node.unsup(format!("an exponent of shape {:?} (only a scalar)", e.shape())));
    }
    let alpha = e.iter().next().copied().unwrap_or(1.0) as f64;
    if alpha == 2.0 {
        let x = node.acts[0].clone();
        return Ok(Imported::OpOn(FloatOpKind::Mul(super::elementwise::FloatMul), vec![x.clone(), x]));
    }
    if alpha == 1.0 {
        return Ok(Imported::Alias(None));
    }
    Ok(Imported::Op(FloatOpKind::Lookup(FloatLookup { func: UnaryFn { func: LookupFn::Pow, alpha, beta: 0.0 } })))
}

/// Float `y[i…, d…] = data[indices[i…], d…]`: a Gather along axis 0 of a constant table
/// by run-time indices (token and positional embeddings).
#[derive(Clone, Debug)]
pub struct FloatEmbedding {
    /// `[V, d…]`.
    pub data: ndarray::ArrayD<f32>,
}

/// `y[i…, d] = table[indices[i…]·D + d]` for integer indices `0 ≤ indices < V` (scale 0:
/// an integer model input, e.g. token ids), `D` the product of the table's trailing axes;
/// the table is the constant quantized at the output's scale. An index outside `[0, V)`
/// (a negative one included, which ONNX would count from the end) is an execution error:
/// the circuit's tables hold `[0, V)` only. The circuit looks every output element up in a
/// table per column `d` (`circuits/src/layers/lookup.rs`), so the rows are one per output
/// element and the table rows `V·D`; the weights stay in the verifying key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embedding {
    /// `V`, the number of rows.
    pub vocab: usize,
    /// `D`, the elements of one row.
    pub dim: usize,
    /// `[V, D]` row-major at the output's scale.
    pub table: Vec<i64>,
}

impl FloatOp for FloatEmbedding {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        if cx.s_in[0] != 0 {
            return Err(crate::error::QuantizeError::InvalidModel(format!(
                "a Gather by run-time indices needs integer indices (scale 0), its indices have scale 2^-{}",
                cx.s_in[0]
            )));
        }
        let s_out = cx.act_scale(QuantCx::max_abs(&self.data));
        let vocab = self.data.shape()[0];
        let dim = self.data.len() / vocab.max(1);
        let table = self.data.iter().map(|&v| quantize_value(v as f64, s_out)).collect();
        Ok((QOpKind::Embedding(Embedding { vocab, dim, table }), s_out))
    }
}

impl QuantizedOp for Embedding {
    const NAME: &'static str = "embedding";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.vocab.checked_mul(self.dim) != Some(self.table.len()) || self.vocab == 0 {
            return Err(format!("table of {} values for {} rows of {}", self.table.len(), self.vocab, self.dim));
        }
        let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
        if let Some(v) = self.table.iter().find(|&&v| (v as i128) < lo || (v as i128) > hi) {
            return Err(format!("table entry {v} is outside the {}-bit activation range", cx.config.act_bits));
        }
        if cx.inputs[0].scale_bits != 0 {
            return Err(format!("indices at scale_bits {}, not 0", cx.inputs[0].scale_bits));
        }
        if cx.output.numel() != cx.inputs[0].numel() * self.dim {
            return Err(format!(
                "output shape {:?} for indices {:?} and rows of {}",
                cx.output.shape, cx.inputs[0].shape, self.dim
            ));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let mut out = Vec::with_capacity(cx.numel());
        for &i in cx.inputs[0].iter() {
            let row = self.row(i)?;
            out.extend(self.table[row * self.dim..(row + 1) * self.dim].iter().map(|&v| v as i128));
        }
        Ok(out)
    }
}

impl Embedding {
    /// The row of index `i`; `Err` outside `[0, V)`.
    pub fn row(&self, i: i64) -> Result<usize, String> {
        usize::try_from(i)
            .ok()
            .filter(|&r| r < self.vocab)
            .ok_or_else(|| format!("index {i} is outside the table's rows [0, {})", self.vocab))
    }
}

/// Gather of a constant table by run-time indices along axis 0.
pub(crate) fn import_embedding(node: &Node<'_>) -> Result<Imported> {
    let data = node.const_array(&node.ins[0])?;
    let axis = node.attr_i("axis").unwrap_or(0);
    if axis != 0 && axis != -(data.ndim() as i64) {
        return Err(node.unsup(format!("run-time indices along axis {axis} of a constant (only axis 0)")));
    }
    if data.ndim() == 0 || data.shape()[0] == 0 {
        return Err(node.unsup(format!("a constant of shape {:?}", data.shape())));
    }
    Ok(Imported::Op(FloatOpKind::Embedding(FloatEmbedding { data })))
}
