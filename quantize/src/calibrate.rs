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
use tract_onnx::prelude::{Datum, DatumType, IntoRunnable, TValue, TVec, Tensor, TypedRunnableModel};
use tract_onnx::tract_hir::prelude::InferenceModelExt;

use crate::dataset::Dataset;
use crate::error::{QuantizeError, Result};
use crate::fixed::fit_scale_bits;
use crate::onnx::{FloatModel, TensorSpec, tensor_to_array};
use crate::ops::QuantCx;
use crate::ops::{MAX_SCALE_BITS, MIN_SCALE_BITS};
use crate::qmodel::{QMODEL_FORMAT, QMODEL_VERSION, QModel, QOp, QTensor, QuantConfig};

/// The float model compiled for tract, returning chosen tensors.
#[derive(Clone)]
pub struct FloatRunner {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<(TensorSpec, DatumType)>,
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
        let plan = crate::onnx::guarded("optimizing the float model", || m.into_optimized()?.into_runnable())?;
        let inputs = self.inputs.iter().cloned().zip(self.input_types.iter().copied()).collect();
        Ok(FloatRunner { plan, inputs, outputs: tensors.to_vec() })
    }
}

impl FloatRunner {
    /// Runs the float model on one flat input (every input's values, concatenated in order).
    pub fn run(&self, x: &[f64]) -> Result<Vec<ArrayD<f32>>> {
        let expected: usize = self.inputs.iter().map(|(t, _)| t.numel()).sum();
        if x.len() != expected {
            let (t, _) = &self.inputs[0];
            return Err(if self.inputs.len() == 1 {
                QuantizeError::InputShape {
                    index: 0,
                    input: t.name.clone(),
                    shape: t.shape.clone(),
                    expected,
                    got: x.len(),
                }
            } else {
                let names: Vec<String> =
                    self.inputs.iter().map(|(t, _)| format!("`{}` {:?}", t.name, t.shape)).collect();
                QuantizeError::InputsLength { index: 0, inputs: names.join(", "), expected, got: x.len() }
            });
        }
        let tract_err = |e: tract_onnx::prelude::TractError| QuantizeError::Tract(format!("{e:?}"));
        let mut values: TVec<TValue> = TVec::new();
        let mut at = 0;
        for (spec, dt) in &self.inputs {
            let part = &x[at..at + spec.numel()];
            at += spec.numel();
            // f64 first: an int64 input's values survive the cast exactly (up to 2^53).
            let t = Tensor::from_shape(&spec.shape, part).map_err(tract_err)?;
            let t = if *dt == f64::datum_type() { t } else { t.cast_to_dt(*dt).map_err(tract_err)?.into_owned() };
            values.push(t.into());
        }
        let out: TVec<TValue> = crate::onnx::guarded("running", || self.plan.run(values))?;
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
    /// Smallest and largest value seen (absent in calibrations written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// Chosen scale.
    pub scale_bits: i32,
}

/// What calibration saw and chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Number of calibration samples.
    pub samples: usize,
    /// Per activation tensor, inputs first.
    pub tensors: Vec<TensorCalibration>,
}

/// The values one tensor took on the calibration set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seen {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Seen {
    /// The largest magnitude.
    pub fn max_abs(&self) -> f64 {
        self.min.abs().max(self.max.abs())
    }

    fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

impl Default for Seen {
    fn default() -> Self {
        Seen { min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

/// Runs the float model on every calibration row and records the range of each activation.
pub fn calibrate(model: &FloatModel, data: &Dataset, mut tick: impl FnMut()) -> Result<HashMap<String, Seen>> {
    let samples = data.samples(&model.inputs)?;
    let names: Vec<String> = model.ops.iter().map(|o| o.output.name.clone()).collect();
    let runner = model.runner(&names)?;
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for row in &samples {
        let mut at = 0;
        for t in &model.inputs {
            let e = seen.entry(t.name.clone()).or_default();
            row[at..at + t.numel()].iter().for_each(|&v| e.add(v));
            at += t.numel();
        }
    }
    for row in &samples {
        let outs = runner.run(row)?;
        for (name, a) in names.iter().zip(outs) {
            let e = seen.entry(name.clone()).or_default();
            a.iter().for_each(|&v| e.add(v as f64));
        }
        tick();
    }
    Ok(seen)
}

/// Quantizes `model` with the ranges from [`calibrate`].
pub fn quantize(
    model: &FloatModel,
    seen: &HashMap<String, Seen>,
    config: &QuantConfig,
) -> Result<(QModel, Calibration)> {
    config.validate()?;
    let act_limit = ((1u64 << (config.act_bits - 1)) - 1) as f64 / (config.headroom_bits as f64).exp2();
    let act_scale = |m: f64| fit_scale_bits(m, act_limit, MIN_SCALE_BITS, MAX_SCALE_BITS);
    let range = |name: &str| seen.get(name).filter(|r| r.min <= r.max).map(|r| (r.min, r.max));
    let max_abs = |name: &str| range(name).map_or(0.0, |(lo, hi): (f64, f64)| lo.abs().max(hi.abs()));

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
        let range = seen.get(name).filter(|r| r.min <= r.max);
        calib.push(TensorCalibration {
            name: name.to_string(),
            max_abs: range.map_or(0.0, Seen::max_abs),
            range: range.map(|r| (r.min, r.max)),
            scale_bits,
        });
        tensors.push(QTensor { name: name.to_string(), shape: shape.to_vec(), scale_bits, integer: false });
        tensors.len() - 1
    };
    let mut inputs = vec![];
    for (t, &integer) in model.inputs.iter().zip(&model.integer_inputs) {
        let m_in = max_abs(&t.name);
        // An integer input is taken as it is: scale 0, its whole numbers in the activation range.
        let scale = if integer { 0 } else { act_scale(m_in) };
        if integer && m_in > ((1u64 << (config.act_bits - 1)) - 1) as f64 {
            return Err(QuantizeError::InvalidModel(format!(
                "integer input `{}` reaches {m_in} on the calibration set, beyond the {}-bit activation range",
                t.name, config.act_bits
            )));
        }
        let id = add_tensor(&t.name, &t.shape, scale, &mut tensors, &mut ids, &mut calib);
        tensors[id].integer = integer;
        inputs.push(id);
    }

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
        let cx = QuantCx {
            s_in: inputs.iter().map(|&i| tensors[i].scale_bits).collect(),
            in_shapes: inputs.iter().map(|&i| tensors[i].shape.as_slice()).collect(),
            out_shape: &op.output.shape,
            in_ranges: inputs.iter().map(|&i| range(&tensors[i].name)).collect(),
            out_max_abs: max_abs(&op.output.name),
            config,
        };
        let (kind, s_out) = op.kind.quantize(&cx)?;
        let output = add_tensor(&op.output.name, &op.output.shape, s_out, &mut tensors, &mut ids, &mut calib);
        ops.push(QOp { node: op.node.clone(), op_type: op.op_type.clone(), inputs, output, kind });
    }
    let outputs = model
        .outputs
        .iter()
        .map(|o| {
            ids.get(&o.name)
                .copied()
                .ok_or_else(|| QuantizeError::InvalidModel(format!("no op produces the output `{}`", o.name)))
        })
        .collect::<Result<_>>()?;
    let q = QModel {
        format: QMODEL_FORMAT.into(),
        version: QMODEL_VERSION,
        name: model.name.clone(),
        config: *config,
        tensors,
        inputs,
        outputs,
        ops,
        notes: model.notes.clone(),
    };
    q.validate().map_err(QuantizeError::InvalidModel)?;
    Ok((q, Calibration { samples: 0, tensors: calib }))
}

/// Calibrates and quantizes in one step.
pub fn calibrate_and_quantize(
    model: &FloatModel,
    data: &Dataset,
    config: &QuantConfig,
    tick: impl FnMut(),
) -> Result<(QModel, Calibration)> {
    config.validate()?;
    let seen = calibrate(model, data, tick)?;
    let (q, mut c) = quantize(model, &seen, config)?;
    c.samples = data.samples(&model.inputs)?.len();
    Ok((q, c))
}
