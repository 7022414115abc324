//! `QModel`: the quantized model IR that the circuit compiler consumes.
//!
//! Every tensor is fixed-point with a power-of-two scale (`scale_bits`), every
//! weight an integer, and every non-linearity an explicit table, so the model
//! means exactly one thing to the executor ([`crate::exec`]) and to the
//! circuit. The file format is versioned JSON; [`QModel::content_hash`] is the
//! keccak256 of its canonical serialization.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::error::{QuantizeError, Result};

/// Marker of the serialized format.
pub const QMODEL_FORMAT: &str = "zkinfer-qmodel";
/// Version of the serialized format; bumped on any change of meaning.
pub const QMODEL_VERSION: u32 = 1;

/// Index of a tensor in [`QModel::tensors`].
pub type TensorId = usize;

/// Bit budgets of a quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Every activation lies in `[-2^(act_bits-1), 2^(act_bits-1) - 1]`; the circuit range-checks it.
    pub act_bits: u32,
    /// Weights and constants lie in `[-2^(weight_bits-1), 2^(weight_bits-1) - 1]` (fixed columns: no
    /// range check, but larger weights widen the rescale remainders).
    pub weight_bits: u32,
    /// Calibrated maxima are mapped to at most `2^-headroom_bits` of the activation range.
    pub headroom_bits: u32,
    /// Sigmoid/Tanh tables have `2^table_bits` entries.
    pub table_bits: u32,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig { act_bits: 16, weight_bits: 16, headroom_bits: 1, table_bits: 12 }
    }
}

impl QuantConfig {
    /// Checks the budgets are usable.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(QuantizeError::Config(m));
        if !(4..=32).contains(&self.act_bits) {
            return err(format!("act_bits {} (allowed 4..=32)", self.act_bits));
        }
        if !(2..=32).contains(&self.weight_bits) {
            return err(format!("weight_bits {} (allowed 2..=32)", self.weight_bits));
        }
        if self.headroom_bits + 2 > self.act_bits {
            return err(format!("headroom_bits {} leaves no room in {} act_bits", self.headroom_bits, self.act_bits));
        }
        if !(4..=20).contains(&self.table_bits) || self.table_bits > self.act_bits {
            return err(format!("table_bits {} (allowed 4..=min(20, act_bits))", self.table_bits));
        }
        Ok(())
    }
}

/// An activation tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QTensor {
    /// ONNX tensor name.
    pub name: String,
    /// Static shape.
    pub shape: Vec<usize>,
    /// The integer `q` stands for `q · 2^-scale_bits`.
    pub scale_bits: i32,
}

impl QTensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A pooling window over NCHW: kernel, strides and explicit padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

/// A constant tensor broadcast against an activation (numpy rules, rank-aligned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QConst {
    /// Shape with the activation's rank; each dim is 1 or the activation's.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<i64>,
}

/// The function of a [`QOpKind::Lookup`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupFn {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

/// One quantized op: what it computes on integers, exactly.
///
/// `rescale(z, s)` and `div_round` are defined in [`crate::fixed`] (round half
/// up). After each op every output value must lie in the activation range of
/// [`QuantConfig::act_bits`]; a value outside is an error, not a clamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum QOpKind {
    /// `y[m, n] = rescale(Σ_k x[m, k] · weight[k, n] + bias[n], shift)`, `x` viewed as `[M, K]`.
    Dense {
        /// `K`.
        k: usize,
        /// `N`.
        n: usize,
        /// `[K, N]` row-major, scale `weight_scale_bits`.
        weight: Vec<i64>,
        /// `[N]` at scale `in + weight_scale_bits`.
        bias: Option<Vec<i64>>,
        /// Scale of the weights.
        weight_scale_bits: i32,
        /// `in + weight_scale_bits - out`.
        shift: i32,
    },
    /// `y[c, i, j] = rescale(Σ_{c', di, dj} x[c', i·sh + di - pt, j·sw + dj - pl] · w[c, c', di, dj] + bias[c], shift)`
    /// with out-of-bounds (padding) inputs equal to 0; NCHW, batch looped.
    Conv {
        /// `[C_out, C_in, kh, kw]`.
        weight_shape: [usize; 4],
        /// Row-major weights, scale `weight_scale_bits`.
        weight: Vec<i64>,
        /// `[C_out]` at scale `in + weight_scale_bits`.
        bias: Option<Vec<i64>>,
        /// `[sh, sw]`.
        strides: [usize; 2],
        /// `[top, left, bottom, right]`.
        pads: [usize; 4],
        /// Scale of the weights.
        weight_scale_bits: i32,
        /// `in + weight_scale_bits - out`.
        shift: i32,
    },
    /// `y = rescale(a · 2^a_shift ± b · 2^b_shift, shift)` (broadcast): both inputs are first
    /// aligned to the larger of their scales.
    Add {
        /// Subtract `b`.
        sub: bool,
        /// Left shift of `a`.
        a_shift: u32,
        /// Left shift of `b`.
        b_shift: u32,
        /// `max(s_a, s_b) - out`.
        shift: i32,
    },
    /// `y = rescale(a · b, shift)` (broadcast), `shift = s_a + s_b - out`.
    Mul {
        /// `s_a + s_b - out`.
        shift: i32,
    },
    /// `y = rescale(x · mul + add, shift)`; `mul` at `mul_scale_bits` (absent = 1 at scale 0),
    /// `add` at scale `in + mul_scale_bits`.
    Affine {
        /// Multiplier.
        mul: Option<QConst>,
        /// Scale of `mul`.
        mul_scale_bits: i32,
        /// Addend.
        add: Option<QConst>,
        /// `in + mul_scale_bits - out`.
        shift: i32,
    },
    /// `y = max(x, 0)`; same scale.
    Relu,
    /// `y = x` if `x ≥ 0`, else `rescale(x · alpha, alpha_scale_bits)`; same scale.
    LeakyRelu {
        /// `round(α · 2^alpha_scale_bits)`.
        alpha: i64,
        /// Scale of `alpha`.
        alpha_scale_bits: u32,
    },
    /// `y = table[⌊x / 2^in_shift⌋ + 2^(table_bits-1)]`: the table covers the whole activation range,
    /// each entry the function at its bucket's midpoint, rounded at the output scale.
    Lookup {
        /// The function tabulated.
        func: LookupFn,
        /// `act_bits - table_bits` (≥ 0).
        in_shift: u32,
        /// `2^table_bits` outputs, for indices `-2^(table_bits-1) ..`.
        table: Vec<i64>,
    },
    /// `y = div_round(Σ window, count)` over `kernel` windows; `count` is the window size, or, without
    /// `count_include_pad`, the number of in-bounds positions; same scale.
    AvgPool {
        /// Kernel, strides and padding.
        #[serde(flatten)]
        window: Window,
        /// Divide by the full window even where it overlaps padding.
        count_include_pad: bool,
    },
    /// `y = max(window)` over in-bounds positions; same scale.
    MaxPool {
        /// Kernel, strides and padding.
        #[serde(flatten)]
        window: Window,
    },
    /// `y[n, c] = div_round(Σ_{h, w} x[n, c, h, w], H·W)`; same scale.
    GlobalAvgPool,
    /// Same values, the output tensor's shape; same scale.
    Reshape,
}

impl QOpKind {
    /// Short name of the op family.
    pub fn family(&self) -> &'static str {
        match self {
            QOpKind::Dense { .. } => "dense",
            QOpKind::Conv { .. } => "conv",
            QOpKind::Add { .. } => "add",
            QOpKind::Mul { .. } => "mul",
            QOpKind::Affine { .. } => "affine",
            QOpKind::Relu => "relu",
            QOpKind::LeakyRelu { .. } => "leaky_relu",
            QOpKind::Lookup { .. } => "lookup",
            QOpKind::AvgPool { .. } => "avg_pool",
            QOpKind::MaxPool { .. } => "max_pool",
            QOpKind::GlobalAvgPool => "global_avg_pool",
            QOpKind::Reshape => "reshape",
        }
    }
}

/// An op with its place in the graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QOp {
    /// ONNX node it came from.
    pub node: String,
    /// ONNX op type(s), `+`-joined when fused.
    pub op_type: String,
    /// Input tensors.
    pub inputs: Vec<TensorId>,
    /// Output tensor.
    pub output: TensorId,
    /// What it computes.
    #[serde(flatten)]
    pub kind: QOpKind,
}

/// A quantized model: tensors, ops in execution order, and how it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QModel {
    /// Always [`QMODEL_FORMAT`].
    pub format: String,
    /// Always [`QMODEL_VERSION`] for files this build writes.
    pub version: u32,
    /// Model name.
    pub name: String,
    /// Bit budgets.
    pub config: QuantConfig,
    /// Activation tensors (input first).
    pub tensors: Vec<QTensor>,
    /// The model input.
    pub input: TensorId,
    /// The model output.
    pub output: TensorId,
    /// Ops in execution order; each reads tensors written before it.
    pub ops: Vec<QOp>,
    /// What import and quantization changed (folds, dropped Softmax).
    pub notes: Vec<String>,
}

impl QModel {
    /// Serializes to the canonical JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("QModel serializes")
    }

    /// keccak256 of the canonical JSON form: equal models, equal hashes.
    pub fn content_hash(&self) -> [u8; 32] {
        Keccak256::digest(self.to_json()).into()
    }

    /// [`Self::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.content_hash())
    }

    /// Writes the model file.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| QuantizeError::io(path, e))
    }

    /// Reads and validates a model file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| QuantizeError::io(path, e))?;
        Self::from_json(&bytes).map_err(|reason| QuantizeError::BadQModel { path: path.to_path_buf(), reason })
    }

    /// Parses and validates model JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let h: Header = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if h.format != QMODEL_FORMAT {
            return Err(format!("format `{}`, expected `{QMODEL_FORMAT}`", h.format));
        }
        if h.version != QMODEL_VERSION {
            return Err(format!("format version {}, this build reads version {QMODEL_VERSION}", h.version));
        }
        let m: QModel = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        m.validate()?;
        Ok(m)
    }

    /// Structural checks: tensor ids in range, ops in dataflow order, parameter lengths.
    pub fn validate(&self) -> Result<(), String> {
        self.config.validate().map_err(|e| e.to_string())?;
        let nt = self.tensors.len();
        if self.input >= nt || self.output >= nt {
            return Err("input/output tensor id out of range".into());
        }
        let mut written = vec![false; nt];
        written[self.input] = true;
        for op in &self.ops {
            for &i in &op.inputs {
                if i >= nt || !written[i] {
                    return Err(format!("op `{}` reads tensor {i} before it is written", op.node));
                }
            }
            if op.output >= nt || written[op.output] {
                return Err(format!("op `{}` writes tensor {} twice or out of range", op.node, op.output));
            }
            written[op.output] = true;
            let want_inputs = match op.kind {
                QOpKind::Add { .. } | QOpKind::Mul { .. } => 2,
                _ => 1,
            };
            if op.inputs.len() != want_inputs {
                return Err(format!("op `{}` has {} inputs, expected {want_inputs}", op.node, op.inputs.len()));
            }
            let problem = match &op.kind {
                QOpKind::Dense { k, n, weight, bias, .. } => {
                    let x = &self.tensors[op.inputs[0]];
                    if weight.len() != k * n || bias.as_ref().is_some_and(|b| b.len() != *n) {
                        Some("weight/bias length")
                    } else if x.shape.last() != Some(k) {
                        Some("input shape does not end in K")
                    } else {
                        None
                    }
                }
                QOpKind::Conv { weight_shape, weight, bias, strides, .. } => (weight.len()
                    != weight_shape.iter().product::<usize>()
                    || bias.as_ref().is_some_and(|b| b.len() != weight_shape[0])
                    || strides.contains(&0))
                .then_some("weight/bias length or stride"),
                QOpKind::Lookup { table, .. } => {
                    (table.len() != 1usize << self.config.table_bits).then_some("table length")
                }
                QOpKind::AvgPool { window, .. } | QOpKind::MaxPool { window } => {
                    (window.kernel.contains(&0) || window.strides.contains(&0)).then_some("zero kernel or stride")
                }
                _ => None,
            };
            if let Some(what) = problem {
                return Err(format!("op `{}`: {what}", op.node));
            }
        }
        if !written[self.output] {
            return Err("the output tensor is never written".into());
        }
        Ok(())
    }

    /// The input tensor.
    pub fn input_tensor(&self) -> &QTensor {
        &self.tensors[self.input]
    }

    /// The output tensor.
    pub fn output_tensor(&self) -> &QTensor {
        &self.tensors[self.output]
    }
}
