//! Calibration and quantization: run the float model (tract) on a calibration
//! set, pick a power-of-two scale per tensor, and turn a [`FloatModel`] into a
//! [`QModel`].
//!
//! Scales: an activation tensor whose calibrated maximum magnitude is `m` gets
//! the largest `s` with `m · 2^s ≤ (2^(act_bits-1) - 1) / 2^headroom_bits`;
//! ops that cannot grow their input (ReLU, pooling, reshapes) keep the input's
//! scale. Weights and constants get the largest `s` that fits `weight_bits`,
//! per tensor. Biases are kept at the accumulator's scale.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::{IntoRunnable, TValue, Tensor, TypedRunnableModel, tvec};
use tract_onnx::tract_hir::prelude::InferenceModelExt;

use crate::dataset::Dataset;
use crate::error::{QuantizeError, Result};
use crate::fixed::{fit_scale_bits, quantize_value};
use crate::onnx::{FloatModel, FloatOpKind, tensor_to_array};
use crate::qmodel::{LookupFn, QConst, QMODEL_FORMAT, QMODEL_VERSION, QModel, QOp, QOpKind, QTensor, QuantConfig};

/// Bounds on chosen scales, so that an all-zero tensor cannot ask for absurd shifts.
const MIN_SCALE_BITS: i32 = -24;
const MAX_SCALE_BITS: i32 = 24;

/// The float model compiled for tract, returning chosen tensors.
#[derive(Clone)]
pub struct FloatRunner {
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    /// Names of the returned tensors, in order.
    pub outputs: Vec<String>,
}

impl FloatModel {
    /// Builds a tract plan that returns the named tensors (ONNX tensor names).
    pub fn runner(&self, tensors: &[String]) -> Result<FloatRunner> {
        let mut m = self.tract.clone();
        let outlets = tensors
            .iter()
            .map(|t| {
                self.outlets
                    .get(t)
                    .copied()
                    .ok_or_else(|| QuantizeError::InvalidModel(format!("no tensor `{t}` in the float graph")))
            })
            .collect::<Result<Vec<_>>>()?;
        m.select_output_outlets(&outlets).map_err(|e| QuantizeError::Tract(format!("{e:?}")))?;
        let plan = m
            .into_optimized()
            .and_then(|t| t.into_runnable())
            .map_err(|e| QuantizeError::Tract(format!("optimizing the float model: {e:?}")))?;
        Ok(FloatRunner { plan, input_shape: self.input.shape.clone(), outputs: tensors.to_vec() })
    }
}

impl FloatRunner {
    /// Runs the float model on one flattened input.
    pub fn run(&self, x: &[f64]) -> Result<Vec<ArrayD<f32>>> {
        let expected: usize = self.input_shape.iter().product();
        if x.len() != expected {
            return Err(QuantizeError::InputShape {
                index: 0,
                input: "input".into(),
                shape: self.input_shape.clone(),
                expected,
                got: x.len(),
            });
        }
        let data: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let t = Tensor::from_shape(&self.input_shape, &data).map_err(|e| QuantizeError::Tract(format!("{e:?}")))?;
        let out: tract_onnx::prelude::TVec<TValue> =
            self.plan.run(tvec!(t.into())).map_err(|e| QuantizeError::Tract(format!("running: {e:?}")))?;
        out.iter().map(|v| tensor_to_array(v).map_err(QuantizeError::Tract)).collect()
    }
}

/// Calibrated range and chosen scale of one activation tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorCalibration {
    /// ONNX tensor name.
    pub name: String,
    /// Largest magnitude seen on the calibration set.
    pub max_abs: f64,
    /// Chosen scale.
    pub scale_bits: i32,
}

/// What calibration saw and chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Number of calibration samples.
    pub samples: usize,
    /// Per activation tensor, input first.
    pub tensors: Vec<TensorCalibration>,
}

/// Runs the float model on every calibration row and records each activation's max magnitude.
pub fn calibrate(model: &FloatModel, data: &Dataset, mut tick: impl FnMut()) -> Result<HashMap<String, f64>> {
    data.check_shape(&model.input.name, &model.input.shape)?;
    let names: Vec<String> = model.ops.iter().map(|o| o.output.name.clone()).collect();
    let runner = model.runner(&names)?;
    let mut max_abs: HashMap<String, f64> = HashMap::new();
    let input_max = data.input_data.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    max_abs.insert(model.input.name.clone(), input_max);
    for row in &data.input_data {
        let outs = runner.run(row)?;
        for (name, a) in names.iter().zip(outs) {
            let m = a.iter().fold(0.0f64, |m, v| m.max((*v as f64).abs()));
            let e = max_abs.entry(name.clone()).or_insert(0.0);
            *e = e.max(m);
        }
        tick();
    }
    Ok(max_abs)
}

/// Quantizes `model` with the ranges from [`calibrate`].
pub fn quantize(
    model: &FloatModel,
    max_abs: &HashMap<String, f64>,
    config: &QuantConfig,
) -> Result<(QModel, Calibration)> {
    config.validate()?;
    let act_limit = ((1u64 << (config.act_bits - 1)) - 1) as f64 / (config.headroom_bits as f64).exp2();
    let w_limit = ((1u64 << (config.weight_bits - 1)) - 1) as f64;
    let act_scale = |m: f64| fit_scale_bits(m, act_limit, MIN_SCALE_BITS, MAX_SCALE_BITS);
    let w_scale = |m: f64| fit_scale_bits(m, w_limit, MIN_SCALE_BITS, 40);
    let max_of = |a: &ArrayD<f32>| a.iter().fold(0.0f64, |m, v| m.max((*v as f64).abs()));

    let mut tensors = vec![];
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut calib = vec![];
    let add_tensor = |name: &str,
                      shape: &[usize],
                      scale_bits: i32,
                      tensors: &mut Vec<QTensor>,
                      ids: &mut HashMap<String, usize>,
                      calib: &mut Vec<TensorCalibration>| {
        ids.insert(name.to_string(), tensors.len());
        calib.push(TensorCalibration {
            name: name.to_string(),
            max_abs: max_abs.get(name).copied().unwrap_or(0.0),
            scale_bits,
        });
        tensors.push(QTensor { name: name.to_string(), shape: shape.to_vec(), scale_bits });
        tensors.len() - 1
    };
    let m_in = max_abs.get(&model.input.name).copied().unwrap_or(0.0);
    let input = add_tensor(&model.input.name, &model.input.shape, act_scale(m_in), &mut tensors, &mut ids, &mut calib);

    let mut ops = vec![];
    for op in &model.ops {
        let inputs: Vec<usize> = op
            .inputs
            .iter()
            .map(|n| {
                ids.get(n)
                    .copied()
                    .ok_or_else(|| QuantizeError::InvalidModel(format!("op `{}` reads unknown `{n}`", op.node)))
            })
            .collect::<Result<_>>()?;
        let s_in = tensors[inputs[0]].scale_bits;
        let calibrated = act_scale(max_abs.get(&op.output.name).copied().unwrap_or(0.0));
        let (kind, s_out) = match &op.kind {
            FloatOpKind::Dense { weight, bias } => {
                let s_w = w_scale(max_of(weight));
                let (k, n) = (weight.shape()[0], weight.shape()[1]);
                let w = weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
                let bias = bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
                (
                    QOpKind::Dense { k, n, weight: w, bias, weight_scale_bits: s_w, shift: s_in + s_w - calibrated },
                    calibrated,
                )
            }
            FloatOpKind::Conv { weight, bias, strides, pads } => {
                let s_w = w_scale(max_of(weight));
                let sh = weight.shape();
                let w = weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
                let bias = bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
                (
                    QOpKind::Conv {
                        weight_shape: [sh[0], sh[1], sh[2], sh[3]],
                        weight: w,
                        bias,
                        strides: *strides,
                        pads: *pads,
                        weight_scale_bits: s_w,
                        shift: s_in + s_w - calibrated,
                    },
                    calibrated,
                )
            }
            FloatOpKind::Add { sub } => {
                let s_b = tensors[inputs[1]].scale_bits;
                let m = s_in.max(s_b);
                (
                    QOpKind::Add {
                        sub: *sub,
                        a_shift: (m - s_in) as u32,
                        b_shift: (m - s_b) as u32,
                        shift: m - calibrated,
                    },
                    calibrated,
                )
            }
            FloatOpKind::Mul => {
                let s_b = tensors[inputs[1]].scale_bits;
                (QOpKind::Mul { shift: s_in + s_b - calibrated }, calibrated)
            }
            FloatOpKind::Affine { mul, add } => {
                let s_m = mul.as_ref().map_or(0, |m| w_scale(max_of(m)));
                let qc = |a: &ArrayD<f32>, s: i32| QConst {
                    shape: a.shape().to_vec(),
                    values: a.iter().map(|&v| quantize_value(v as f64, s)).collect(),
                };
                (
                    QOpKind::Affine {
                        mul: mul.as_ref().map(|m| qc(m, s_m)),
                        mul_scale_bits: s_m,
                        add: add.as_ref().map(|a| qc(a, s_in + s_m)),
                        shift: s_in + s_m - calibrated,
                    },
                    calibrated,
                )
            }
            FloatOpKind::Relu => (QOpKind::Relu, s_in),
            FloatOpKind::LeakyRelu { alpha } => {
                let s_a = w_scale(alpha.abs() as f64).max(0);
                (QOpKind::LeakyRelu { alpha: quantize_value(*alpha as f64, s_a), alpha_scale_bits: s_a as u32 }, s_in)
            }
            FloatOpKind::Sigmoid | FloatOpKind::Tanh => {
                let func = if matches!(op.kind, FloatOpKind::Sigmoid) { LookupFn::Sigmoid } else { LookupFn::Tanh };
                // Both functions are bounded by 1 in magnitude: no input can overflow the output.
                let s_out = act_scale(1.0);
                let in_shift = config.act_bits - config.table_bits;
                (
                    QOpKind::Lookup {
                        func,
                        in_shift,
                        table: lookup_table(func, s_in, s_out, in_shift, config.table_bits),
                    },
                    s_out,
                )
            }
            FloatOpKind::AvgPool { window, count_include_pad } => {
                (QOpKind::AvgPool { window: *window, count_include_pad: *count_include_pad }, s_in)
            }
            FloatOpKind::MaxPool { window } => (QOpKind::MaxPool { window: *window }, s_in),
            FloatOpKind::GlobalAvgPool => (QOpKind::GlobalAvgPool, s_in),
            FloatOpKind::Reshape => (QOpKind::Reshape, s_in),
        };
        let output = add_tensor(&op.output.name, &op.output.shape, s_out, &mut tensors, &mut ids, &mut calib);
        ops.push(QOp { node: op.node.clone(), op_type: op.op_type.clone(), inputs, output, kind });
    }
    let output = *ids
        .get(&model.output.name)
        .ok_or_else(|| QuantizeError::InvalidModel(format!("no op produces the output `{}`", model.output.name)))?;
    let q = QModel {
        format: QMODEL_FORMAT.into(),
        version: QMODEL_VERSION,
        name: model.name.clone(),
        config: *config,
        tensors,
        input,
        output,
        ops,
        notes: model.notes.clone(),
    };
    q.validate().map_err(QuantizeError::InvalidModel)?;
    Ok((q, Calibration { samples: 0, tensors: calib }))
}

/// The table of a [`QOpKind::Lookup`]: entry `i + 2^(T-1)` is `f` at the midpoint of the
/// bucket `[i·2^d, (i+1)·2^d - 1]` (input scale `s_in`), quantized at `s_out`.
pub fn lookup_table(func: LookupFn, s_in: i32, s_out: i32, in_shift: u32, table_bits: u32) -> Vec<i64> {
    let half = 1i64 << (table_bits - 1);
    let width = 1i64 << in_shift;
    (-half..half)
        .map(|i| {
            let mid = (i * width) as f64 + (width - 1) as f64 / 2.0;
            let x = mid * (-s_in as f64).exp2();
            let y = match func {
                LookupFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                LookupFn::Tanh => x.tanh(),
            };
            quantize_value(y, s_out)
        })
        .collect()
}

/// Calibrates and quantizes in one step.
pub fn calibrate_and_quantize(
    model: &FloatModel,
    data: &Dataset,
    config: &QuantConfig,
    tick: impl FnMut(),
) -> Result<(QModel, Calibration)> {
    config.validate()?;
    let max_abs = calibrate(model, data, tick)?;
    let (q, mut c) = quantize(model, &max_abs, config)?;
    c.samples = data.len();
    Ok((q, c))
}
