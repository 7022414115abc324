//! Input and dataset files in EZKL's JSON shape.
//!
//! EZKL's form: `{"input_data": [x_1, ..., x_n]}`, one list per model input in the
//! model's input order, each the input's row-major values; several samples are the
//! flat concatenation of their values in each list (EZKL's batching). zkinfer's own
//! form, for models with one input only: one list per sample, `{"input_data":
//! [[sample 0...], [sample 1...]]}`. The two agree on a single sample, so a file written
//! for EZKL works unchanged and vice versa. An optional `"labels": [...]` holds the
//! class index of each sample.
//!
//! NumPy files are datasets too: a `.npy` array holds one input's samples (its
//! leading dimensions are the samples, e.g. `[450, 64]` or `[450, 1, 64]`); a
//! `.npz` archive holds one array per input, named after the model's inputs
//! (`np.savez(f, top=..., bottom=...)`) or in order (`arr_0`, `arr_1`, ...),
//! and an optional `labels` array.
//!
//! [`Dataset::samples`] turns either form into one flat input per sample (all inputs'
//! values concatenated, as the executor, the circuit and the node take them).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{QuantizeError, Result};
use crate::onnx::TensorSpec;

/// The `input_data` lists of an input or dataset file, with optional class labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// One list per model input (EZKL's form) or, for a one-input model, one per sample.
    pub input_data: Vec<Vec<f64>>,
    /// Class label per sample, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<i64>>,
    /// The file it came from, for errors.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// The name of each list, when the file names them (a `.npz` archive's members).
    #[serde(skip)]
    pub names: Option<Vec<String>>,
}

impl Dataset {
    /// A dataset of one list per sample (zkinfer's form, for a one-input model) or per input.
    pub fn new(input_data: Vec<Vec<f64>>, labels: Option<Vec<i64>>) -> Self {
        Dataset { input_data, labels, path: None, names: None }
    }

    /// Reads and validates a dataset file (at least one list, finite values): JSON, or
    /// NumPy `.npy` / `.npz` by the file's extension.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| QuantizeError::io(path, e))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => Self::from_npy(&bytes, path),
            Some("npz") => Self::from_npz(&bytes, path),
            _ => Self::from_json(&bytes, path),
        }
    }

    /// One `.npy` array: one input's samples, concatenated (EZKL's form, one list).
    pub fn from_npy(bytes: &[u8], path: &Path) -> Result<Self> {
        let a = crate::npy::parse_npy(bytes, path)?;
        Self::checked(Dataset { input_data: vec![a.values], labels: None, path: Some(path.into()), names: None })
    }

    /// A `.npz` archive: one array per input (named after the inputs, or `arr_0`, ...), and
    /// an optional `labels` array of class indices.
    pub fn from_npz(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: String| QuantizeError::BadData { path: path.to_path_buf(), reason };
        let mut lists = vec![];
        let mut names = vec![];
        let mut labels = None;
        for (name, a) in crate::npy::parse_npz(bytes, path)? {
            if name == "labels" {
                if a.values.iter().any(|v| v.fract() != 0.0 || *v < 0.0) {
                    return Err(bad("`labels` holds values that are not class indices".into()));
                }
                labels = Some(a.values.iter().map(|&v| v as i64).collect());
            } else {
                names.push(name);
                lists.push(a.values);
            }
        }
        Self::checked(Dataset { input_data: lists, labels, path: Some(path.into()), names: Some(names) })
    }

    fn checked(ds: Dataset) -> Result<Self> {
        if ds.input_data.is_empty() || ds.input_data.iter().all(Vec::is_empty) {
            return Err(ds.bad("the file holds no input arrays".into()));
        }
        for (i, row) in ds.input_data.iter().enumerate() {
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(ds.bad(format!("array {i}, value {j} is not a finite number")));
            }
        }
        Ok(ds)
    }

    /// Parses and validates dataset JSON; `path` only names the source in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: String| QuantizeError::BadData { path: path.to_path_buf(), reason };
        let mut ds: Dataset = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("expected {{\"input_data\": [[numbers...]], \"labels\"?: [ints]}}: {e}")))?;
        if ds.input_data.is_empty() {
            return Err(bad("`input_data` has no rows".into()));
        }
        for (i, row) in ds.input_data.iter().enumerate() {
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("row {i}, value {j} is not a finite number")));
            }
        }
        ds.path = Some(path.to_path_buf());
        Ok(ds)
    }

    /// Number of lists in `input_data`.
    pub fn len(&self) -> usize {
        self.input_data.len()
    }

    /// True when there are no lists (never for a validated dataset).
    pub fn is_empty(&self) -> bool {
        self.input_data.is_empty()
    }

    fn bad(&self, reason: String) -> QuantizeError {
        QuantizeError::BadData { path: self.path.clone().unwrap_or_else(|| "<memory>".into()), reason }
    }

    /// One flat input per sample for a model with `inputs` (every input's values,
    /// concatenated in order), from either form; errors name the list and the input.
    /// Labels, when present, must number the samples.
    pub fn samples(&self, inputs: &[TensorSpec]) -> Result<Vec<Vec<f64>>> {
        // Lists named after the model's inputs are taken by name.
        let by_name: Option<Vec<Vec<f64>>> = self.names.as_ref().and_then(|names| {
            inputs.iter().map(|t| names.iter().position(|n| *n == t.name).map(|i| self.input_data[i].clone())).collect()
        });
        let rows = by_name.as_ref().unwrap_or(&self.input_data);
        let samples: Vec<Vec<f64>> = if let [spec] = inputs
            && rows.len() > 1
        {
            // zkinfer's form: one list per sample.
            for (index, row) in rows.iter().enumerate() {
                if row.len() != spec.numel() {
                    return Err(QuantizeError::InputShape {
                        index,
                        input: spec.name.clone(),
                        shape: spec.shape.clone(),
                        expected: spec.numel(),
                        got: row.len(),
                    });
                }
            }
            rows.clone()
        } else {
            // EZKL's form: one list per input, several samples concatenated.
            if rows.len() != inputs.len() {
                let names: Vec<String> = inputs.iter().map(|t| format!("`{}` {:?}", t.name, t.shape)).collect();
                return Err(self.bad(format!(
                    "`input_data` has {} lists, the model has {} inputs ({}); give one list per input, \
                     in this order",
                    rows.len(),
                    inputs.len(),
                    names.join(", ")
                )));
            }
            let mut count = None;
            for (row, spec) in rows.iter().zip(inputs) {
                let n = spec.numel().max(1);
                if row.is_empty() || row.len() % n != 0 {
                    return Err(self.bad(format!(
                        "list {} has {} values for input `{}` of shape {:?} ({} values per sample)",
                        rows.iter().position(|r| std::ptr::eq(r, row)).unwrap_or(0),
                        row.len(),
                        spec.name,
                        spec.shape,
                        n
                    )));
                }
                let k = row.len() / n;
                if *count.get_or_insert(k) != k {
                    return Err(self.bad(format!(
                        "input `{}` has {k} samples, the first input has {}",
                        spec.name,
                        count.unwrap_or(0)
                    )));
                }
            }
            let k = count.unwrap_or(0);
            (0..k)
                .map(|s| {
                    rows.iter()
                        .zip(inputs)
                        .flat_map(|(row, spec)| row[s * spec.numel()..(s + 1) * spec.numel()].iter().copied())
                        .collect()
                })
                .collect()
        };
        if let Some(labels) = &self.labels
            && labels.len() != samples.len()
        {
            return Err(self.bad(format!("{} labels for {} samples", labels.len(), samples.len())));
        }
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Dataset> {
        Dataset::from_json(s.as_bytes(), Path::new("mem.json"))
    }

    fn spec(name: &str, shape: &[usize]) -> TensorSpec {
        TensorSpec { name: name.into(), shape: shape.to_vec() }
    }

    #[test]
    fn parses_ezkl_shape() {
        let d = parse(r#"{"input_data": [[0.5, 1, -2]], "labels": [3]}"#).unwrap();
        assert_eq!(d.input_data, vec![vec![0.5, 1.0, -2.0]]);
        assert_eq!(d.labels, Some(vec![3]));
        assert_eq!(d.samples(&[spec("x", &[1, 3])]).unwrap(), vec![vec![0.5, 1.0, -2.0]]);
        let e = d.samples(&[spec("x", &[1, 2])]).unwrap_err().to_string();
        assert!(e.contains("3 values for input `x` of shape [1, 2]") && e.contains("mem.json"), "{e}");
    }

    #[test]
    fn one_list_per_sample_or_per_input() {
        // zkinfer's form: rows are samples of the one input.
        let d = parse(r#"{"input_data": [[1, 2], [3, 4], [5, 6]], "labels": [0, 1, 0]}"#).unwrap();
        assert_eq!(d.samples(&[spec("x", &[2])]).unwrap(), vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
        let e = d.samples(&[spec("x", &[3])]).unwrap_err().to_string();
        assert!(e.contains("input 0: has 2 values") && e.contains("`x`"), "{e}");
        // EZKL's batching: one list with the samples concatenated.
        let d = parse(r#"{"input_data": [[1, 2, 3, 4, 5, 6]], "labels": [0, 1, 0]}"#).unwrap();
        assert_eq!(d.samples(&[spec("x", &[2])]).unwrap().len(), 3);
        // Two inputs: one list each, two samples each, interleaved per sample.
        let d = parse(r#"{"input_data": [[1, 2, 3, 4], [10, 20]]}"#).unwrap();
        let s = d.samples(&[spec("a", &[1, 2]), spec("b", &[1])]).unwrap();
        assert_eq!(s, vec![vec![1.0, 2.0, 10.0], vec![3.0, 4.0, 20.0]]);
        for (inputs, want) in [
            (vec![spec("a", &[2]), spec("b", &[2])], "`b` has 1 samples, the first input has 2"),
            (vec![spec("a", &[3]), spec("b", &[1])], "4 values for input `a`"),
            (vec![spec("a", &[1]), spec("b", &[1]), spec("c", &[1])], "2 lists, the model has 3 inputs"),
        ] {
            let e = d.samples(&inputs).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let d = parse(r#"{"input_data": [[1, 2], [3]], "labels": [1, 2]}"#).unwrap();
        let e = d.samples(&[spec("a", &[2]), spec("b", &[1])]).unwrap_err().to_string();
        assert!(e.contains("2 labels for 1 samples"), "{e}");
    }

    #[test]
    fn rejects_bad_files() {
        for (s, want) in [
            (r#"{"input_data": []}"#, "no rows"),
            (r#"{"input_data": [["a"]]}"#, "expected"),
            (r#"[1,2]"#, "expected"),
            (r#"{"input_data": [[1e999]]}"#, "expected"),
            ("", "expected"),
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("mem.json"), "{s}: {e}");
        }
    }
}
