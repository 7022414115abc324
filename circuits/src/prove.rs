//! Keygen, prove and verify (KZG on BN254, SHPLONK multi-open).
//!
//! Proofs use the Keccak-256 "EVM" transcript of snark-verifier (Fiat–Shamir over
//! every commitment and every public instance, so the binding element is part of
//! the transcript; points are written uncompressed), so the same bytes verify
//! natively and in the generated Solidity verifier.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use halo2_proofs::SerdeFormat;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey, create_proof, keygen_pk, keygen_vk, verify_proof};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{TranscriptReadBuffer, TranscriptWriterBuffer};
use halo2curves::bn256::{Bn256, Fr, G1Affine};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};
use snark_verifier::system::halo2::transcript::evm::{ChallengeEvm, EvmTranscript};
use zkinfer_gpu::halo2::{AccelParams, create_proof_accel};
use zkinfer_quantize::{QModel, Trace};

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::{CircuitError, Result};
use crate::plan::build_plan_in;

/// The largest circuit built: 2^26 rows already need hundreds of GiB to prove.
pub const MAX_CIRCUIT_K: u32 = 26;

/// The circuit of `model` without a witness, and the `k` it needs; its shape
/// (MAC width) is chosen by the planner's cost model ([`crate::cost::plan_circuit`]).
pub fn shape_of(model: &QModel) -> Result<(ModelCircuit, u32)> {
    let (plan, shape, _) = crate::cost::plan_circuit(model)?;
    let k = plan.min_k();
    if k > MAX_CIRCUIT_K {
        return Err(CircuitError::TooLarge { k, max: MAX_CIRCUIT_K, detail: String::new() });
    }
    Ok((ModelCircuit::new(Arc::new(plan), None, shape), k))
}

/// Runs the model on a quantized input and lays out the witness circuit of `shape`
/// (the one [`shape_of`] picks), bound to `binding`.
pub fn witness_circuit(
    model: &QModel,
    shape: CircuitShape,
    input: &[i64],
    binding: Fr,
) -> Result<(ModelCircuit, Trace)> {
    let trace = model.execute(input)?;
    let plan = build_plan_in(model, Some(&trace), shape.width, shape.func_slots())?;
    if plan.has_dot() && !shape.dot {
        return Err(CircuitError::Invalid(format!(
            "model `{}` multiplies two activations, but its circuit shape has no dot gate (shape.dot = false)",
            model.name
        )));
    }
    Ok((ModelCircuit::new(Arc::new(plan), Some(binding), shape), trace))
}

/// Generates the keys of `model` from `params` (whose k must be at least the circuit's).
pub fn keygen(params: &ParamsKZG<Bn256>, model: &QModel) -> Result<ProvingKey<G1Affine>> {
    let (circuit, k) = shape_of(model)?;
    if params.k() < k {
        return Err(CircuitError::Invalid(format!("the SRS has k = {}, the circuit needs k = {k}", params.k())));
    }
    let params = params_for(params, k)?;
    let params = params.as_ref();
    let vk = keygen_vk(params, &circuit).map_err(|e| CircuitError::Halo2(format!("keygen_vk: {e:?}")))?;
    keygen_pk(params, vk, &circuit).map_err(|e| CircuitError::Halo2(format!("keygen_pk: {e:?}")))
}

/// Domain tag that opens the bytes of a [`circuit_digest`].
pub const CIRCUIT_DIGEST_TAG: &[u8; 18] = b"zkinfer.circuit.v1";

/// What a model id commits to besides the instance counts: `keccak256` of
///
/// ```text
/// "zkinfer.circuit.v1"         18 ASCII bytes (domain tag)
/// u32 big-endian shape.width   products per MAC row
/// u32 big-endian shape.limbs   range-check limbs per row
/// transcript_repr              32 bytes, big-endian: halo2's BLAKE2b digest of the
///                              pinned verifying key — the constraint system (columns,
///                              gates, lookups, permutation) and every commitment
/// vk bytes                     the DIR/vk file: halo2-axiom's raw verifying key
///                              (k, fixed and permutation commitments)
/// ```
///
/// The vk bytes alone do not name the gates (halo2 rebuilds them from the
/// circuit's shape when it reads a key), hence the shape and the transcript
/// digest: two bundles with the same digest verify the same relation.
pub fn circuit_digest(vk: &VerifyingKey<G1Affine>, shape: CircuitShape) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(CIRCUIT_DIGEST_TAG);
    h.update(u32_be(shape.width));
    h.update(u32_be(shape.limbs));
    h.update(crate::encoding::fr_to_be_bytes(&vk.transcript_repr()));
    h.update(vk.to_bytes(SerdeFormat::RawBytes));
    h.finalize().into()
}

/// The model id of a circuit with `num_inputs` input and `num_outputs` output
/// instances (the binding is the one more): `keccak256(circuit_digest ‖
/// u32be(num_inputs) ‖ u32be(num_outputs))`, 40 bytes — what Solidity's
/// `keccak256(abi.encodePacked(bytes32, uint32, uint32))` gives, so
/// `ModelRegistry` computes the same id on chain from the digest and the counts.
pub fn model_id_of(circuit_digest: &[u8; 32], num_inputs: u32, num_outputs: u32) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(circuit_digest);
    h.update(num_inputs.to_be_bytes());
    h.update(num_outputs.to_be_bytes());
    h.finalize().into()
}

/// The model id of the circuit of `vk` and `shape` with these instance counts
/// ([`circuit_digest`], then [`model_id_of`]).
pub fn model_id(vk: &VerifyingKey<G1Affine>, shape: CircuitShape, num_inputs: usize, num_outputs: usize) -> [u8; 32] {
    model_id_of(&circuit_digest(vk, shape), count(num_inputs), count(num_outputs))
}

/// The model id of `model`'s circuit under `vk` ([`model_id`] with the model's
/// input and output sizes).
pub fn model_id_for(vk: &VerifyingKey<G1Affine>, shape: CircuitShape, model: &QModel) -> [u8; 32] {
    let layout = crate::statement::InstanceLayout::of(model);
    model_id(vk, shape, layout.inputs, layout.outputs)
}

fn u32_be(x: usize) -> [u8; 4] {
    count(x).to_be_bytes()
}

fn count(x: usize) -> u32 {
    // Shapes and tensor sizes are bounded far below 2^32 by MAX_CIRCUIT_K.
    u32::try_from(x).expect("a circuit dimension fits in u32")
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
    /// Time to run the model and build the witness plan.
    pub witness_time: Duration,
    /// Time in halo2's prover.
    pub prove_time: Duration,
}

/// Runs `model` on the quantized input and proves it, bound to `binding`.
/// `params` may be larger than the key's k (they are downsized, which costs an FFT:
/// pass params of exactly the key's k when proving many times). Plans the circuit's
/// shape first; [`prove_with_shape`] skips that when the shape is known (setup.json).
pub fn prove(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    model: &QModel,
    input: &[i64],
    binding: Fr,
) -> Result<Proved> {
    let (empty, _) = shape_of(model)?;
    prove_with_shape(params, pk, empty.shape, model, input, binding)
}

/// [`prove`] for a circuit of a known `shape` (the one the keys were made for).
pub fn prove_with_shape(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    shape: CircuitShape,
    model: &QModel,
    input: &[i64],
    binding: Fr,
) -> Result<Proved> {
    prove_seeded(Commit::Cpu(params), pk, shape, model, input, binding, ChaCha20Rng::from_entropy())
}

/// [`prove_with_shape`] with the commitments' MSMs on the backend of `params`
/// ([`zkinfer_gpu::halo2`]): the same commitments and proof format, so the same
/// verifiers accept it.
pub fn prove_accel(
    params: &AccelParams,
    pk: &ProvingKey<G1Affine>,
    shape: CircuitShape,
    model: &QModel,
    input: &[i64],
    binding: Fr,
) -> Result<Proved> {
    prove_seeded(Commit::Accel(params), pk, shape, model, input, binding, ChaCha20Rng::from_entropy())
}

/// Where a proof's commitments are computed.
#[derive(Clone, Copy, Debug)]
pub enum Commit<'a> {
    /// halo2-axiom's own CPU MSM.
    Cpu(&'a ParamsKZG<Bn256>),
    /// An [`AccelParams`] backend.
    Accel(&'a AccelParams),
}

/// The proof of [`prove_with_shape`] with a given blinding randomness (tests
/// compare the backends' advice commitments with it; provers use fresh entropy).
pub fn prove_seeded(
    commit: Commit<'_>,
    pk: &ProvingKey<G1Affine>,
    shape: CircuitShape,
    model: &QModel,
    input: &[i64],
    binding: Fr,
    rng: ChaCha20Rng,
) -> Result<Proved> {
    let t0 = Instant::now();
    let (circuit, trace) = witness_circuit(model, shape, input, binding)?;
    let k = circuit.plan.min_k();
    let key_k = pk.get_vk().get_domain().k();
    if k != key_k {
        return Err(CircuitError::Invalid(format!(
            "the proving key is for k = {key_k}, this model needs k = {k}: the key belongs to another model"
        )));
    }
    let instances = circuit.instances().expect("witness plan");
    let witness_time = t0.elapsed();
    let mut transcript = <EvmTranscript<G1Affine, _, _, _> as TranscriptWriterBuffer<_, G1Affine, _>>::init(Vec::new());
    let t1;
    match commit {
        Commit::Cpu(params) => {
            let params = params_for(params, k)?;
            t1 = Instant::now();
            create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, ChallengeEvm<G1Affine>, _, _, _>(
                &params,
                pk,
                &[circuit],
                &[&[&instances]],
                rng,
                &mut transcript,
            )
        }
        Commit::Accel(params) => {
            if params.k() != k {
                return Err(CircuitError::Invalid(format!(
                    "the accelerated SRS has k = {}, the key needs k = {k}",
                    params.k()
                )));
            }
            t1 = Instant::now();
            create_proof_accel::<ChallengeEvm<G1Affine>, _, _, _>(
                params,
                pk,
                &[circuit],
                &[&[&instances]],
                rng,
                &mut transcript,
            )
        }
    }
    .map_err(|e| CircuitError::Halo2(format!("create_proof: {e:?}")))?;
    let prove_time = t1.elapsed();
    let outputs = model.trace_outputs(&trace);
    Ok(Proved { proof: transcript.finalize(), instances, outputs, witness_time, prove_time })
}

/// Verifies `proof` for `instances` under `vk`.
pub fn verify(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>, instances: &[Fr], proof: &[u8]) -> Result<()> {
    let params = params_for(params, vk.get_domain().k())?;
    let mut transcript = <EvmTranscript<G1Affine, _, _, _> as TranscriptReadBuffer<_, G1Affine, _>>::init(proof);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, ChallengeEvm<G1Affine>, _, _>(
        params.verifier_params(),
        vk,
        SingleStrategy::new(&params),
        &[&[instances]],
        &mut transcript,
    )
    .map_err(|e| CircuitError::Rejected(format!("{e:?}")))?;
    Ok(())
}

/// `params` at exactly `k`: borrowed when they already are, else downsized
/// (an error when they are smaller).
pub fn params_for(params: &ParamsKZG<Bn256>, k: u32) -> Result<Cow<'_, ParamsKZG<Bn256>>> {
    match params.k().cmp(&k) {
        std::cmp::Ordering::Equal => Ok(Cow::Borrowed(params)),
        std::cmp::Ordering::Less => {
            Err(CircuitError::Invalid(format!("the SRS has k = {}, the key needs k = {k}", params.k())))
        }
        std::cmp::Ordering::Greater => {
            let mut p = params.clone();
            p.downsize(k);
            Ok(Cow::Owned(p))
        }
    }
}
