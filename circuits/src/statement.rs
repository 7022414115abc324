//! The public statement of a proof: what its instance column holds, and where.
//!
//! A model with `n` input values and `m` output values (every input and output
//! tensor flattened and concatenated in the model's order) has `n + m + 1`
//! public instances:
//!
//! | instances | what |
//! |---|---|
//! | `0 .. n` | the quantized inputs, as field elements ([`crate::encoding::fr_from_int`]) |
//! | `n .. n + m` | the quantized outputs |
//! | `n + m` | the binding element (job and prover, [`crate::encoding::binding_for`]) |
//!
//! [`InstanceLayout`] is the only place that knows this order: the circuit
//! ([`crate::ModelCircuit::instances`]), the proof file, the bundle, the cost
//! report, the EVM verifier's calldata and the chain watcher all ask it.

use std::ops::Range;

use halo2curves::bn256::Fr;
use zkinfer_quantize::QModel;

use crate::encoding::fr_from_int;
use crate::error::{CircuitError, Result};

/// Where the inputs, outputs and binding sit in a model's instance column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceLayout {
    /// Input values (all input tensors).
    pub inputs: usize,
    /// Output values (all output tensors).
    pub outputs: usize,
}

impl InstanceLayout {
    /// The layout of `model`'s statement.
    pub fn of(model: &QModel) -> InstanceLayout {
        InstanceLayout { inputs: model.input_len(), outputs: model.output_len() }
    }

    /// The number of instances: inputs + outputs + 1 binding.
    pub fn len(self) -> usize {
        self.inputs + self.outputs + 1
    }

    /// Never empty (the binding is always there); for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The instances holding the inputs.
    pub fn input_range(self) -> Range<usize> {
        0..self.inputs
    }

    /// The instances holding the outputs.
    pub fn output_range(self) -> Range<usize> {
        self.inputs..self.inputs + self.outputs
    }

    /// The binding's instance (the last).
    pub fn binding_index(self) -> usize {
        self.inputs + self.outputs
    }

    /// The instance column's order, for any cell type: inputs, outputs, binding.
    /// The circuit uses it for its instance values and for the cells it ties to them.
    pub fn assemble<T>(
        inputs: impl IntoIterator<Item = T>,
        outputs: impl IntoIterator<Item = T>,
        binding: T,
    ) -> Vec<T> {
        let mut out: Vec<T> = inputs.into_iter().chain(outputs).collect();
        out.push(binding);
        out
    }

    /// The instances of quantized `inputs` and `outputs` bound to `binding`;
    /// an error when their lengths are not this layout's.
    pub fn instances(self, inputs: &[i64], outputs: &[i64], binding: Fr) -> Result<Vec<Fr>> {
        if inputs.len() != self.inputs || outputs.len() != self.outputs {
            return Err(CircuitError::Invalid(format!(
                "{} input and {} output values for a statement of {} inputs and {} outputs",
                inputs.len(),
                outputs.len(),
                self.inputs,
                self.outputs
            )));
        }
        let fe = |v: &i64| fr_from_int(*v as i128);
        Ok(Self::assemble(inputs.iter().map(fe), outputs.iter().map(fe), binding))
    }

    /// `instances` split into (inputs, outputs, binding); an error (the statement
    /// is rejected) when there are not [`InstanceLayout::len`] of them.
    pub fn split<T>(self, instances: &[T]) -> Result<(&[T], &[T], &T)> {
        if instances.len() != self.len() {
            return Err(CircuitError::Rejected(format!(
                "{} instances, the model has {} inputs + {} outputs + 1 binding",
                instances.len(),
                self.inputs,
                self.outputs
            )));
        }
        let (inputs, rest) = instances.split_at(self.inputs);
        let (outputs, binding) = rest.split_at(self.outputs);
        Ok((inputs, outputs, &binding[0]))
    }
}

/// A checked statement: the instances a proof is verified against, and the proof.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// Where inputs, outputs and binding sit in `instances`.
    pub layout: InstanceLayout,
    /// Public instances ([`InstanceLayout::len`] of them).
    pub instances: Vec<Fr>,
    /// Proof bytes.
    pub proof: Vec<u8>,
}

impl Statement {
    /// A statement of `instances` in `layout`; an error when their number is not the layout's.
    pub fn new(layout: InstanceLayout, instances: Vec<Fr>, proof: Vec<u8>) -> Result<Statement> {
        layout.split(&instances)?;
        Ok(Statement { layout, instances, proof })
    }

    /// The input instances.
    pub fn inputs(&self) -> &[Fr] {
        &self.instances[self.layout.input_range()]
    }

    /// The output instances.
    pub fn outputs(&self) -> &[Fr] {
        &self.instances[self.layout.output_range()]
    }

    /// The binding element.
    pub fn binding(&self) -> Fr {
        self.instances[self.layout.binding_index()]
    }
}

#[cfg(test)]
mod tests {
    use halo2curves::ff::Field;

    use super::*;

    #[test]
    fn the_layout_is_inputs_then_outputs_then_the_binding() {
        let l = InstanceLayout { inputs: 3, outputs: 2 };
        let b = Fr::from(99u64);
        let inst = l.instances(&[1, -2, 3], &[4, 5], b).unwrap();
        assert_eq!(inst.len(), l.len());
        assert_eq!(inst[1], -Fr::from(2u64));
        let st = Statement::new(l, inst.clone(), vec![7]).unwrap();
        assert_eq!(st.inputs(), &inst[..3]);
        assert_eq!(st.outputs(), &[Fr::from(4u64), Fr::from(5u64)]);
        assert_eq!(st.binding(), b);
        let (i, o, bb) = l.split(&inst).unwrap();
        assert_eq!((i.len(), o.len(), *bb), (3, 2, b));
    }

    #[test]
    fn a_wrong_number_of_values_is_refused() {
        let l = InstanceLayout { inputs: 3, outputs: 2 };
        let e = l.split(&[Fr::ONE; 5]).unwrap_err().to_string();
        assert!(e.contains("5 instances, the model has 3 inputs + 2 outputs + 1 binding"), "{e}");
        assert!(l.split(&[Fr::ONE; 7]).is_err());
        assert!(l.instances(&[1, 2], &[4, 5], Fr::ONE).is_err());
        assert!(Statement::new(l, vec![Fr::ONE; 4], vec![]).is_err());
    }
}
