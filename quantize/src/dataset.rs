//! Input and dataset files in EZKL's JSON shape.
//!
//! One input: `{"input_data": [[...flattened floats...]]}`. A dataset is the
//! same with one row per sample plus an optional `"labels": [...]` (class
//! indices), so users can bring the files they already have.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{QuantizeError, Result};

/// Rows of flattened float inputs, with optional class labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// One row per sample, each the flattened model input.
    pub input_data: Vec<Vec<f64>>,
    /// Class label per row, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<i64>>,
}

impl Dataset {
    /// Reads and validates a dataset file (at least one row, labels matching rows, finite values).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| QuantizeError::io(path, e))?;
        Self::from_json(&bytes, path)
    }

    /// Parses and validates dataset JSON; `path` only names the source in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: String| QuantizeError::BadData { path: path.to_path_buf(), reason };
        let ds: Dataset = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("expected {{\"input_data\": [[numbers...]], \"labels\"?: [ints]}}: {e}")))?;
        if ds.input_data.is_empty() {
            return Err(bad("`input_data` has no rows".into()));
        }
        if let Some(labels) = &ds.labels
            && labels.len() != ds.input_data.len()
        {
            return Err(bad(format!("{} labels for {} rows of `input_data`", labels.len(), ds.input_data.len())));
        }
        for (i, row) in ds.input_data.iter().enumerate() {
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("row {i}, value {j} is not a finite number")));
            }
        }
        Ok(ds)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.input_data.len()
    }

    /// True when there are no rows (never for a validated dataset).
    pub fn is_empty(&self) -> bool {
        self.input_data.is_empty()
    }

    /// Checks every row has `numel` values; errors name the row.
    pub fn check_shape(&self, input: &str, shape: &[usize]) -> Result<()> {
        let expected: usize = shape.iter().product();
        for (index, row) in self.input_data.iter().enumerate() {
            if row.len() != expected {
                return Err(QuantizeError::InputShape {
                    index,
                    input: input.to_string(),
                    shape: shape.to_vec(),
                    expected,
                    got: row.len(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Dataset> {
        Dataset::from_json(s.as_bytes(), Path::new("mem.json"))
    }

    #[test]
    fn parses_ezkl_shape() {
        let d = parse(r#"{"input_data": [[0.5, 1, -2]], "labels": [3]}"#).unwrap();
        assert_eq!(d.input_data, vec![vec![0.5, 1.0, -2.0]]);
        assert_eq!(d.labels, Some(vec![3]));
        d.check_shape("x", &[1, 3]).unwrap();
        let e = d.check_shape("x", &[1, 4]).unwrap_err().to_string();
        assert!(e.contains("has 3 values") && e.contains("[1, 4]"), "{e}");
    }

    #[test]
    fn rejects_bad_files() {
        for (s, want) in [
            (r#"{"input_data": []}"#, "no rows"),
            (r#"{"input_data": [[1]], "labels": [1, 2]}"#, "2 labels for 1 rows"),
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
