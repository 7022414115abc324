//! Accuracy report: the float model (tract) against the quantized model
//! (integer executor) on a dataset.

use serde::{Deserialize, Serialize};

use crate::calibrate::FloatRunner;
use crate::dataset::Dataset;
use crate::error::{QuantizeError, Result};
use crate::qmodel::QModel;

/// Float vs quantized on a dataset. Errors are in float units of the model output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    /// Rows evaluated.
    pub samples: usize,
    /// Fraction of rows where both models pick the same class (argmax, first on ties).
    pub argmax_agreement: f64,
    /// Top-1 accuracy of the float model, when the dataset has labels.
    pub float_accuracy: Option<f64>,
    /// Top-1 accuracy of the quantized model, when the dataset has labels.
    pub quantized_accuracy: Option<f64>,
    /// Largest `|float − dequantized|` over all outputs of all rows.
    pub max_abs_error: f64,
    /// Mean `|float − dequantized|` over all outputs of all rows.
    pub mean_abs_error: f64,
    /// Rows whose integer execution left the activation range (counted as disagreeing and wrong).
    pub overflows: usize,
    /// Input values clamped to the activation range, over all rows.
    pub clamped_inputs: usize,
}

/// Index of the largest value (the first of equals).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Evaluates `qmodel` against the float `runner` (which must return the QModel's outputs first,
/// in order). Argmax agreement and accuracy are of the first output (its argmax, or its value
/// when it is a class index).
pub fn evaluate(
    qmodel: &QModel,
    runner: &FloatRunner,
    data: &Dataset,
    mut tick: impl FnMut(),
) -> Result<AccuracyReport> {
    let samples = data.samples(&qmodel.input_specs())?;
    let out_names: Vec<String> = qmodel.output_tensors().map(|t| t.name.clone()).collect();
    if runner.outputs.get(..out_names.len()) != Some(&out_names[..]) {
        return Err(QuantizeError::InvalidModel(format!(
            "the float runner does not return the outputs {}",
            qmodel.outputs_summary()
        )));
    }
    let first = qmodel.first_output_len();
    // The prediction: the argmax of the first output (a classifier's scores), or the first
    // output itself when it is a class index (an ArgMax as the output).
    let is_index = qmodel.first_output_is_index();
    let class = |out: &[f64]| if is_index { out[0].round().max(0.0) as usize } else { argmax(&out[..first]) };
    let (mut agree, mut f_ok, mut q_ok, mut overflows, mut clamped) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let (mut max_err, mut sum_err, mut n_err) = (0.0f64, 0.0f64, 0usize);
    for (i, row) in samples.iter().enumerate() {
        let float_out: Vec<f64> =
            runner.run(row)?[..out_names.len()].iter().flat_map(|a| a.iter().map(|&v| v as f64)).collect();
        let f_class = class(&float_out);
        let label = data.labels.as_ref().map(|l| l[i]);
        if label == Some(f_class as i64) {
            f_ok += 1;
        }
        let qi = qmodel.quantize_input(row)?;
        clamped += qi.clamped;
        match qmodel.execute(&qi.values) {
            Ok(trace) => {
                let q_out = qmodel.dequantize_output(&trace);
                let q_class = class(&q_out);
                if q_class == f_class {
                    agree += 1;
                }
                if label == Some(q_class as i64) {
                    q_ok += 1;
                }
                for (a, b) in float_out.iter().zip(&q_out) {
                    let e = (a - b).abs();
                    max_err = max_err.max(e);
                    sum_err += e;
                    n_err += 1;
                }
            }
            Err(QuantizeError::ActivationOverflow { .. }) => overflows += 1,
            Err(e) => return Err(e),
        }
        tick();
    }
    let n = samples.len() as f64;
    Ok(AccuracyReport {
        samples: samples.len(),
        argmax_agreement: agree as f64 / n,
        float_accuracy: data.labels.as_ref().map(|_| f_ok as f64 / n),
        quantized_accuracy: data.labels.as_ref().map(|_| q_ok as f64 / n),
        max_abs_error: max_err,
        mean_abs_error: if n_err == 0 { 0.0 } else { sum_err / n_err as f64 },
        overflows,
        clamped_inputs: clamped,
    })
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_takes_first_of_equals() {
        assert_eq!(argmax(&[1, 3, 3, 2]), 1);
        assert_eq!(argmax(&[-5, -7]), 0);
        assert_eq!(argmax(&[0.1, 0.2, 0.05]), 1);
    }
}
