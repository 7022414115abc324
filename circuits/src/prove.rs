//! Keygen, prove and verify (KZG on BN254, SHPLONK multi-open).
//!
//! Proofs use the Blake2b transcript for now; the EVM-compatible Keccak
//! transcript arrives with the on-chain verifier.

use std::sync::Arc;

use halo2_proofs::SerdeFormat;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey, create_proof, keygen_pk, keygen_vk, verify_proof};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer};
use halo2curves::bn256::{Bn256, Fr, G1Affine};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};
use zkinfer_quantize::QModel;

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::{CircuitError, Result};
use crate::plan::build_plan;

/// Products per MAC row of the circuits this crate builds.
pub const DEFAULT_WIDTH: usize = 8;

/// The circuit of `model` without a witness, and the `k` it needs.
pub fn shape_of(model: &QModel) -> Result<(ModelCircuit, u32)> {
    let plan = build_plan(model, None, DEFAULT_WIDTH)?;
    let k = plan.min_k();
    let shape = CircuitShape { width: DEFAULT_WIDTH, limbs: plan.limbs() };
    Ok((ModelCircuit { plan: Arc::new(plan), binding: None, shape }, k))
}

/// An INSECURE structured reference string from a fixed seed: anyone can forge proofs
/// against it. For tests and demos only.
pub fn dev_srs(k: u32) -> ParamsKZG<Bn256> {
    ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed([0x5a; 32]))
}

/// Generates the keys of `model` from `params` (whose k must be at least the circuit's).
pub fn keygen(params: &ParamsKZG<Bn256>, model: &QModel) -> Result<ProvingKey<G1Affine>> {
    let (circuit, k) = shape_of(model)?;
    if params.k() < k {
        return Err(CircuitError::Invalid(format!("the SRS has k = {}, the circuit needs k = {k}", params.k())));
    }
    let mut params = params.clone();
    params.downsize(k);
    let vk = keygen_vk(&params, &circuit).map_err(|e| CircuitError::Halo2(format!("keygen_vk: {e:?}")))?;
    keygen_pk(&params, vk, &circuit).map_err(|e| CircuitError::Halo2(format!("keygen_pk: {e:?}")))
}

/// `keccak256` of the verifying key bytes: the model id.
pub fn model_id(vk: &VerifyingKey<G1Affine>) -> [u8; 32] {
    Keccak256::digest(vk.to_bytes(SerdeFormat::RawBytes)).into()
}

/// A proof and the public instances it proves (inputs, outputs, binding).
#[derive(Clone, Debug)]
pub struct Proved {
    /// The proof bytes.
    pub proof: Vec<u8>,
    /// Public instances.
    pub instances: Vec<Fr>,
    /// Quantized outputs.
    pub outputs: Vec<i64>,
}

/// Runs `model` on the quantized input and proves it, bound to `binding`.
pub fn prove(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    model: &QModel,
    input: &[i64],
    binding: Fr,
) -> Result<Proved> {
    let trace = model.execute(input)?;
    let plan = build_plan(model, Some(&trace), DEFAULT_WIDTH)?;
    let k = plan.min_k();
    let shape = CircuitShape { width: DEFAULT_WIDTH, limbs: plan.limbs() };
    let circuit = ModelCircuit { plan: Arc::new(plan), binding: Some(binding), shape };
    let instances = circuit.instances().expect("witness plan");
    let mut params = params.clone();
    params.downsize(k);
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(vec![]);
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, Challenge255<G1Affine>, _, _, _>(
        &params,
        pk,
        &[circuit],
        &[&[&instances]],
        ChaCha20Rng::from_entropy(),
        &mut transcript,
    )
    .map_err(|e| CircuitError::Halo2(format!("create_proof: {e:?}")))?;
    let outputs = trace.tensors[model.output].iter().copied().collect();
    Ok(Proved { proof: transcript.finalize(), instances, outputs })
}

/// Verifies `proof` for `instances` under `vk`.
pub fn verify(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Result<()> {
    let mut params = params.clone();
    let k = vk.get_domain().k();
    if params.k() < k {
        return Err(CircuitError::Invalid(format!("the SRS has k = {}, the key needs k = {k}", params.k())));
    }
    params.downsize(k);
    let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(proof);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, Challenge255<G1Affine>, _, _>(
        params.verifier_params(),
        vk,
        SingleStrategy::new(&params),
        &[&[instances]],
        &mut transcript,
    )
    .map_err(|e| CircuitError::Rejected(format!("{e:?}")))?;
    Ok(())
}
