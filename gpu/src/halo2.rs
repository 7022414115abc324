//! The hook into halo2-axiom's prover: a KZG commitment scheme ([`AccelKzg`])
//! whose prover parameters ([`AccelParams`]) commit through an [`MsmBackend`].
//!
//! halo2-axiom's `create_proof` is generic over the commitment scheme, and
//! every commitment it makes (advice and instance columns, lookup permutations
//! and products, permutation products, vanishing-argument pieces) goes through
//! `Params::commit_lagrange` or `ParamsProver::commit`. [`AccelParams`] wraps
//! the ordinary [`ParamsKZG`] and sends those MSMs to the backend; the
//! SHPLONK opening ([`AccelShplonk`]) is halo2-axiom's own, run on the same
//! parameters (its two final commitments stay on the CPU). The verifier
//! parameters are the unchanged `ParamsKZG`, and the commitments are the same
//! points the CPU prover computes, so the proof format is unchanged and the same
//! native and EVM verifiers accept it (tested: `circuits/tests/accel.rs`,
//! `verifier/tests/`).
//!
//! NTTs are not hooked: halo2-axiom's `EvaluationDomain` (inside the proving
//! key) calls its own FFT, with no parameter or trait to swap it.

use std::fmt;
use std::io;
use std::sync::Arc;

use halo2_proofs::SerdeFormat;
use halo2_proofs::plonk::{Circuit, Error as PlonkError, ProvingKey, create_proof};
use halo2_proofs::poly::ProverQuery;
use halo2_proofs::poly::commitment::{Blind, CommitmentScheme, Params, ParamsProver, Prover};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::msm::MSMKZG;
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::poly::{Coeff, LagrangeCoeff, Polynomial};
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use halo2curves::bn256::{Bn256, Fr, G1, G1Affine};
use halo2curves::serde::SerdeObject;
use rand::RngCore;

use crate::MsmBackend;

/// KZG on BN254 with commitments computed by an [`MsmBackend`].
#[derive(Debug)]
pub struct AccelKzg;

/// [`ParamsKZG`] plus an MSM backend for the prover's commitments.
#[derive(Clone)]
pub struct AccelParams {
    inner: Arc<ParamsKZG<Bn256>>,
    g_lagrange: Arc<Vec<G1Affine>>,
    msm: Arc<dyn MsmBackend>,
}

impl fmt::Debug for AccelParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccelParams").field("k", &self.inner.k()).field("msm", &self.msm.name()).finish()
    }
}

impl AccelParams {
    /// Wraps `params`; commitments go to `msm`.
    pub fn new(params: ParamsKZG<Bn256>, msm: Arc<dyn MsmBackend>) -> Self {
        let g_lagrange = Arc::new(lagrange_basis(&params));
        Self { inner: Arc::new(params), g_lagrange, msm }
    }

    /// The wrapped parameters (also the verifier's).
    pub fn inner(&self) -> &ParamsKZG<Bn256> {
        &self.inner
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.msm.name()
    }
}

/// The Lagrange basis of `params` (not exposed by halo2-axiom; read back from
/// its raw serialization: k, then 2^k monomial points, then 2^k Lagrange points).
fn lagrange_basis(params: &ParamsKZG<Bn256>) -> Vec<G1Affine> {
    let mut bytes = Vec::new();
    params.write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked).expect("in-memory write");
    let n = params.n() as usize;
    let mut r = &bytes[4..];
    for _ in 0..n {
        G1Affine::read_raw_unchecked(&mut r);
    }
    (0..n).map(|_| G1Affine::read_raw_unchecked(&mut r)).collect()
}

impl<'params> Params<'params, G1Affine> for AccelParams {
    type MSM = MSMKZG<Bn256>;

    fn k(&self) -> u32 {
        self.inner.k()
    }

    fn n(&self) -> u64 {
        self.inner.n()
    }

    fn downsize(&mut self, k: u32) {
        let mut p = (*self.inner).clone();
        p.downsize(k);
        *self = AccelParams::new(p, self.msm.clone());
    }

    fn empty_msm(&'params self) -> MSMKZG<Bn256> {
        MSMKZG::new()
    }

    /// As `ParamsKZG::commit_lagrange` (which also ignores the blind).
    fn commit_lagrange(&self, poly: &Polynomial<Fr, LagrangeCoeff>, _: Blind<Fr>) -> G1 {
        let size = poly.len();
        assert!(self.n() >= size as u64);
        self.msm.msm(poly, &self.g_lagrange[..size])
    }

    fn write<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.inner.write(writer)
    }

    fn read<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(AccelParams::new(ParamsKZG::read(reader)?, Arc::new(crate::CpuBackend)))
    }
}

impl<'params> ParamsProver<'params, G1Affine> for AccelParams {
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new(k: u32) -> Self {
        AccelParams::new(<ParamsKZG<Bn256> as ParamsProver<'_, G1Affine>>::new(k), Arc::new(crate::CpuBackend))
    }

    /// As `ParamsKZG::commit` (which also ignores the blind).
    fn commit(&self, poly: &Polynomial<Fr, Coeff>, _: Blind<Fr>) -> G1 {
        let size = poly.len();
        assert!(self.n() >= size as u64);
        self.msm.msm(poly, &self.inner.get_g()[..size])
    }

    fn get_g(&self) -> &[G1Affine] {
        self.inner.get_g()
    }

    fn verifier_params(&'params self) -> &'params ParamsKZG<Bn256> {
        &self.inner
    }
}

impl CommitmentScheme for AccelKzg {
    type Scalar = Fr;
    type Curve = G1Affine;
    type ParamsProver = AccelParams;
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new_params(k: u32) -> AccelParams {
        <AccelParams as ParamsProver<'_, G1Affine>>::new(k)
    }

    fn read_params<R: io::Read>(reader: &mut R) -> io::Result<AccelParams> {
        <AccelParams as Params<'_, G1Affine>>::read(reader)
    }
}

/// SHPLONK multi-opening for [`AccelKzg`]: halo2-axiom's, on the wrapped parameters.
#[derive(Debug)]
pub struct AccelShplonk<'params> {
    params: &'params AccelParams,
}

impl<'params> Prover<'params, AccelKzg> for AccelShplonk<'params> {
    const QUERY_INSTANCE: bool =
        <ProverSHPLONK<'params, Bn256> as Prover<'params, KZGCommitmentScheme<Bn256>>>::QUERY_INSTANCE;

    fn new(params: &'params AccelParams) -> Self {
        Self { params }
    }

    fn create_proof<'com, E: EncodedChallenge<G1Affine>, T: TranscriptWrite<G1Affine, E>, R, I>(
        &self,
        rng: R,
        transcript: &mut T,
        queries: I,
    ) -> io::Result<()>
    where
        I: IntoIterator<Item = ProverQuery<'com, G1Affine>> + Clone,
        R: RngCore,
    {
        let inner: &ParamsKZG<Bn256> = &self.params.inner;
        <ProverSHPLONK<'_, Bn256> as Prover<'_, KZGCommitmentScheme<Bn256>>>::new(inner)
            .create_proof(rng, transcript, queries)
    }
}

/// `create_proof` with [`AccelParams`]: the same proof as halo2-axiom's
/// `create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK, ..>` on the wrapped
/// parameters, with the commitments' MSMs on the backend.
pub fn create_proof_accel<E, T, C, R>(
    params: &AccelParams,
    pk: &ProvingKey<G1Affine>,
    circuits: &[C],
    instances: &[&[&[Fr]]],
    rng: R,
    transcript: &mut T,
) -> Result<(), PlonkError>
where
    E: EncodedChallenge<G1Affine>,
    T: TranscriptWrite<G1Affine, E>,
    C: Circuit<Fr>,
    R: RngCore + Send,
{
    create_proof::<AccelKzg, AccelShplonk<'_>, E, R, T, C>(params, pk, circuits, instances, rng, transcript)
}
