//! The integer reference executor: the exact semantics the circuit proves.
//!
//! Each op follows the doc comment of its [`crate::QOpKind`] variant's struct
//! (in [`crate::ops`]), with the
//! rounding rules of [`crate::fixed`]. Accumulators are `i128`; every output
//! value must fit the activation range ([`QuantConfig::act_bits`]) or
//! execution fails with [`QuantizeError::ActivationOverflow`] (the circuit
//! could not prove it either).
//!
//! [`QuantConfig::act_bits`]: crate::QuantConfig::act_bits

use ndarray::{ArrayD, IxDyn};

use crate::error::{QuantizeError, Result};
use crate::fixed::{quantize_value, signed_range};
use crate::ops::ExecCx;
use crate::qmodel::{QModel, QOp};

/// Every tensor's value after one execution, indexed by tensor id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// `tensors[id]`, with the shape of `QModel::tensors[id]`.
    pub tensors: Vec<ArrayD<i64>>,
}

/// A quantized input and how many of its values were clamped to the activation range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantizedInput {
    /// Row-major values at the input's scale.
    pub values: Vec<i64>,
    /// Values that fell outside the range and were clamped.
    pub clamped: usize,
}

impl QModel {
    /// Quantizes a flat float input (every input's values, concatenated in order):
    /// `q = ⌊x · 2^s + 1/2⌋` at each input's scale, clamped to the activation range. An
    /// integer input takes whole numbers only.
    pub fn quantize_input(&self, x: &[f64]) -> Result<QuantizedInput> {
        self.check_input_len(x.len())?;
        let (lo, hi) = signed_range(self.config.act_bits);
        let mut clamped = 0;
        let mut values = Vec::with_capacity(x.len());
        let mut at = 0;
        for t in self.input_tensors() {
            for (j, &v) in x[at..at + t.numel()].iter().enumerate() {
                if t.integer && v.fract() != 0.0 {
                    return Err(QuantizeError::InputValue {
                        input: t.name.clone(),
                        index: j,
                        reason: format!("{v} is not a whole number (the input is an integer tensor)"),
                    });
                }
                let q = quantize_value(v, t.scale_bits) as i128;
                if q < lo || q > hi {
                    clamped += 1;
                }
                values.push(q.clamp(lo, hi) as i64);
            }
            at += t.numel();
        }
        Ok(QuantizedInput { values, clamped })
    }

    /// Fails with [`QuantizeError::InputShape`] unless `len` values fill the input tensors.
    pub fn check_input_len(&self, len: usize) -> Result<()> {
        if len == self.input_len() {
            return Ok(());
        }
        let t = &self.tensors[self.inputs[0]];
        if self.inputs.len() == 1 {
            return Err(QuantizeError::InputShape {
                index: 0,
                input: t.name.clone(),
                shape: t.shape.clone(),
                expected: t.numel(),
                got: len,
            });
        }
        Err(QuantizeError::InputsLength {
            index: 0,
            inputs: self.inputs_summary(),
            expected: self.input_len(),
            got: len,
        })
    }

    /// Runs the model on a quantized flat input.
    pub fn execute(&self, input: &[i64]) -> Result<Trace> {
        self.check_input_len(input.len())?;
        let (lo, hi) = signed_range(self.config.act_bits);
        let mut tensors: Vec<ArrayD<i64>> = self.tensors.iter().map(|t| ArrayD::zeros(IxDyn(&t.shape))).collect();
        let mut at = 0;
        for &id in &self.inputs {
            let t = &self.tensors[id];
            let part = &input[at..at + t.numel()];
            if let Some(&v) = part.iter().find(|&&v| (v as i128) < lo || (v as i128) > hi) {
                return Err(QuantizeError::ActivationOverflow {
                    node: "<input>".into(),
                    tensor: t.name.clone(),
                    value: v as i128,
                    bits: self.config.act_bits,
                });
            }
            tensors[id] = ArrayD::from_shape_vec(IxDyn(&t.shape), part.to_vec()).expect("length checked");
            at += t.numel();
        }
        for op in &self.ops {
            let out = self.run_op(op, &tensors)?;
            let out_t = &self.tensors[op.output];
            let values: Vec<i64> = out
                .into_iter()
                .map(|v| {
                    if v < lo || v > hi {
                        Err(QuantizeError::ActivationOverflow {
                            node: op.node.clone(),
                            tensor: out_t.name.clone(),
                            value: v,
                            bits: self.config.act_bits,
                        })
                    } else {
                        Ok(v as i64)
                    }
                })
                .collect::<Result<_>>()?;
            tensors[op.output] = ArrayD::from_shape_vec(IxDyn(&out_t.shape), values)
                .map_err(|e| QuantizeError::InvalidModel(format!("op `{}`: output shape: {e}", op.node)))?;
        }
        Ok(Trace { tensors })
    }

    /// The flat input of a trace (every input's values, concatenated).
    pub fn trace_inputs(&self, trace: &Trace) -> Vec<i64> {
        self.inputs.iter().flat_map(|&t| trace.tensors[t].iter().copied()).collect()
    }

    /// The flat output of a trace (every output's values, concatenated).
    pub fn trace_outputs(&self, trace: &Trace) -> Vec<i64> {
        self.outputs.iter().flat_map(|&t| trace.tensors[t].iter().copied()).collect()
    }

    /// The flat output of a trace as floats (`q · 2^-s`, each output at its scale).
    pub fn dequantize_output(&self, trace: &Trace) -> Vec<f64> {
        self.dequantize_outputs(&self.trace_outputs(trace))
    }

    /// A flat quantized output as floats, each value at its output's scale.
    pub fn dequantize_outputs(&self, q: &[i64]) -> Vec<f64> {
        q.iter().zip(self.output_scales()).map(|(&v, s)| crate::fixed::dequantize_value(v, s)).collect()
    }

    /// Computes one op's output values (row-major, before the range check).
    fn run_op(&self, op: &QOp, tensors: &[ArrayD<i64>]) -> Result<Vec<i128>> {
        let cx = ExecCx {
            inputs: op.inputs.iter().map(|&i| &tensors[i]).collect(),
            out_shape: &self.tensors[op.output].shape,
            config: &self.config,
        };
        op.kind.exec(&cx).map_err(|m| QuantizeError::InvalidModel(format!("op `{}`: {m}", op.node)))
    }
}
