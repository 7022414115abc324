//! Real bytecode, real proofs: the generated EVM verifier and the JobMarket
//! flow on the embedded chain (revm) and on a real anvil node.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use alloy::primitives::{Address, B256, U256};
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::bn256::{Bn256, Fr, G1Affine};
use zkinfer_circuits::prove::{keygen, model_id, prove, shape_of, verify};
use zkinfer_circuits::srs::Srs;
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};
use zkinfer_verifier::VerifierError;
use zkinfer_verifier::anvil;
use zkinfer_verifier::chain::{Chain, DEV_KEYS, RpcChain};
use zkinfer_verifier::evm::{EvmVerifier, MAX_RUNTIME_SIZE, build_verifier, encode_calldata};
use zkinfer_verifier::market::{JobMarket, Market, binding, fr_to_u256};

fn fixture(model: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(model).join(file)
}

struct Model {
    q: QModel,
    pk: ProvingKey<G1Affine>,
    verifier: EvmVerifier,
    id: B256,
}

struct Fixture {
    params: ParamsKZG<Bn256>,
    a: Model,
    /// Same architecture, other quantization: other weights, other key.
    b: Model,
    input: Vec<i64>,
}

fn model(params: &ParamsKZG<Bn256>, config: QuantConfig) -> Model {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let q = calibrate_and_quantize(&m, &calib, &config, || {}).unwrap().0;
    let pk = keygen(params, &q).unwrap();
    let n = q.input_tensor().numel() + q.output_tensor().numel() + 1;
    let verifier = build_verifier(params, pk.get_vk(), n).unwrap();
    let id = B256::from(model_id(pk.get_vk()));
    Model { q, pk, verifier, id }
}

fn fixture_models() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
        let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
        let q = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0;
        let (_, k) = shape_of(&q).unwrap();
        let params = Srs::dev(k).unwrap().params;
        let a = model(&params, QuantConfig::default());
        let b = model(&params, QuantConfig { act_bits: 14, ..QuantConfig::default() });
        assert_ne!(a.id, b.id);
        let input = Dataset::read(&fixture("mlp_digits", "input.json")).unwrap();
        let input = a.q.quantize_input(&input.input_data[0]).unwrap().values;
        Fixture { params, a, b, input }
    })
}

fn prove_for(fx: &Fixture, m: &Model, job: U256, prover: Address) -> (Vec<Fr>, Vec<u8>) {
    let p = prove(&fx.params, &m.pk, &m.q, &fx.input, binding(job, prover)).unwrap();
    verify(&fx.params, m.pk.get_vk(), &p.instances, &p.proof).unwrap();
    (p.instances, p.proof)
}

fn reverted_with(r: Result<impl std::fmt::Debug, VerifierError>, what: &str) -> String {
    match r {
        Err(VerifierError::Reverted { reason, .. }) => {
            assert!(reason.contains(what), "expected a revert with {what}, got {reason}");
            reason
        }
        other => panic!("expected a revert with {what}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_verifier_accepts_the_proof_and_rejects_tampering() {
    let fx = fixture_models();
    let v = &fx.a.verifier;
    assert!(v.solidity.contains("pragma solidity ^0.8.19;"));
    assert!(v.unsplit_runtime > 10_000, "verifier runtime {} B", v.unsplit_runtime);
    for p in &v.parts {
        assert!(p.runtime.len() <= MAX_RUNTIME_SIZE, "{} has {} B of runtime", p.name, p.runtime.len());
    }
    assert!(v.parts.len() >= v.unsplit_runtime.div_ceil(MAX_RUNTIME_SIZE));
    let chain = Chain::embedded();
    let me = chain.accounts()[0];
    let deployed = v.deploy(&chain, me).await.unwrap();
    let addr = deployed.address;
    for (a, p) in deployed.parts.iter().zip(&v.parts) {
        assert_eq!(chain.code(*a).await.unwrap().len(), p.runtime.len(), "deployed code of {} differs", p.name);
    }
    // The embedded chain enforces EIP-170 like mainnet: the unsplit verifier does not deploy.
    if v.unsplit_runtime > MAX_RUNTIME_SIZE {
        let single = zkinfer_verifier::evm::compile_solidity(
            &zkinfer_verifier::evm::generate_solidity(&fx.params, fx.a.pk.get_vk(), v.num_instances).unwrap(),
        )
        .unwrap();
        assert!(chain.deploy(me, single.parts[0].bytecode.clone()).await.is_err(), "EIP-170 not enforced");
    }

    let (instances, proof) = prove_for(fx, &fx.a, U256::from(1), me);
    let (out, gas) = chain.call(me, addr, encode_calldata(&instances, &proof)).await.unwrap();
    assert!(out.is_empty());
    assert!(gas > 200_000 && gas < 1_000_000, "verification gas {gas}");
    eprintln!(
        "mlp verifier: {} parts, runtime {:?} B (unsplit {} B), deploy gas {}, verify gas {gas}",
        v.parts.len(),
        v.parts.iter().map(|p| p.runtime.len()).collect::<Vec<_>>(),
        v.unsplit_runtime,
        deployed.gas
    );

    let reject = |inst: Vec<Fr>, proof: Vec<u8>, what: &'static str| {
        let chain = &chain;
        async move {
            let r = chain.call(me, addr, encode_calldata(&inst, &proof)).await;
            assert!(matches!(r, Err(VerifierError::Reverted { .. })), "{what} accepted: {r:?}");
        }
    };
    let tamper = |i: usize| {
        let mut inst = instances.clone();
        inst[i] += Fr::one();
        inst
    };
    let n_in = fx.a.q.input_tensor().numel();
    reject(tamper(0), proof.clone(), "tampered input").await;
    reject(tamper(n_in), proof.clone(), "tampered output").await;
    reject(tamper(instances.len() - 1), proof.clone(), "tampered binding").await;
    let mut flipped = proof.clone();
    flipped[200] ^= 1;
    reject(instances.clone(), flipped, "corrupted proof").await;
    reject(instances.clone(), proof[..proof.len() - 32].to_vec(), "truncated proof").await;
    reject(instances[..instances.len() - 1].to_vec(), proof.clone(), "missing instance").await;
    // A proof whose commitments ran through the device backend (the CUDA
    // kernels on the kernel emulator): the same EVM verifier accepts it.
    if let Some(backend) = zkinfer_gpu::emulated_backend(0) {
        let accel = zkinfer_gpu::halo2::AccelParams::new(fx.params.clone(), backend);
        let (empty, _) = shape_of(&fx.a.q).unwrap();
        let p = zkinfer_circuits::prove::prove_accel(
            &accel,
            &fx.a.pk,
            empty.shape,
            &fx.a.q,
            &fx.input,
            binding(U256::from(2), me),
        )
        .unwrap();
        let (out, _) = chain.call(me, addr, encode_calldata(&p.instances, &p.proof)).await.unwrap();
        assert!(out.is_empty());
        let mut flipped = p.proof.clone();
        flipped[100] ^= 1;
        reject(p.instances.clone(), flipped, "corrupted device-backend proof").await;
    }
    // Model B's verifier rejects model A's proof.
    let b = fx.b.verifier.deploy(&chain, me).await.unwrap().address;
    let r = chain.call(me, b, encode_calldata(&instances, &proof)).await;
    assert!(matches!(r, Err(VerifierError::Reverted { .. })), "another model's verifier accepted: {r:?}");
}

/// The whole market flow with every rejection, on any chain whose first five
/// accounts are [`DEV_KEYS`].
async fn market_flow(chain: &Chain) {
    let fx = fixture_models();
    let acc = chain.accounts();
    let (deployer, poster, prover, thief) = (acc[0], acc[1], acc[2], acc[3]);
    let (market, gas) = Market::deploy(chain, deployer, U256::from(1_000_000u64)).await.unwrap();
    eprintln!("[{}] deploy gas: token {} registry {} market {}", chain.describe(), gas.token, gas.registry, gas.market);

    let mut verifiers = Vec::new();
    for m in [&fx.a, &fx.b] {
        let r = market.deploy_verifier(deployer, &m.verifier).await.unwrap();
        eprintln!("[{}] verifier deploy gas {} ({} parts)", chain.describe(), r.gas, r.parts.len());
        let v = r.address;
        let n_in = m.q.input_tensor().numel() as u32;
        let n_out = m.q.output_tensor().numel() as u32;
        market.register_model(deployer, m.id, v, n_in, n_out, "ipfs://mlp").await.unwrap();
        verifiers.push(v);
    }
    assert_eq!(market.model(fx.a.id).await.unwrap().verifier, verifiers[0]);
    reverted_with(market.register_model(thief, fx.a.id, verifiers[1], 64, 10, "x").await, "AlreadyRegistered");
    reverted_with(market.model(B256::repeat_byte(7)).await, "UnknownModel");

    market.transfer(deployer, poster, U256::from(1000u64)).await.unwrap();
    market.approve(poster, U256::from(1000u64)).await.unwrap();
    let inputs: Vec<U256> = fx.input.iter().map(|&x| fr_to_u256(&zkinfer_circuits::circuit::fe(x as i128))).collect();
    let now = chain.timestamp().await.unwrap();
    let bounty = U256::from(100u64);
    reverted_with(
        market.post_job(poster, fx.a.id, inputs[..10].to_vec(), bounty, now + 3600).await,
        "WrongInstanceCount",
    );
    reverted_with(market.post_job(poster, fx.a.id, inputs.clone(), bounty, now - 1).await, "BadDeadline");
    let (job, r) = market.post_job(poster, fx.a.id, inputs.clone(), bounty, now + 3600).await.unwrap();
    eprintln!("[{}] postJob gas {} ({} inputs)", chain.describe(), r.gas_used, inputs.len());
    let (job_b, _) = market.post_job(poster, fx.b.id, inputs.clone(), bounty, now + 3600).await.unwrap();
    let (job_late, _) = market.post_job(poster, fx.a.id, inputs.clone(), bounty, now + 3600).await.unwrap();
    let posted = market.posted_jobs(0, None).await.unwrap();
    assert_eq!(posted.iter().map(|p| p.job_id).collect::<Vec<_>>(), vec![job, job_b, job_late]);
    assert_eq!(posted[0].inputs, inputs);
    assert_eq!(market.binding_on_chain(job, prover).await.unwrap(), fr_to_u256(&binding(job, prover)));

    let balances = || async {
        (
            market.balance(poster).await.unwrap(),
            market.balance(prover).await.unwrap(),
            market.balance(thief).await.unwrap(),
            market.balance(market.contracts.market).await.unwrap(),
        )
    };
    let before = balances().await;
    assert_eq!(before.3, U256::from(300u64));

    let (instances, proof) = prove_for(fx, &fx.a, job, prover);
    let n_in = inputs.len();
    let outputs: Vec<U256> = instances[n_in..instances.len() - 1].iter().map(fr_to_u256).collect();

    // Front-running: the same proof and outputs from another address.
    reverted_with(market.submit_proof(thief, job, outputs.clone(), proof.clone()).await, "InvalidProof");
    // Tampered outputs.
    let mut bad = outputs.clone();
    bad[0] += U256::from(1u64);
    reverted_with(market.submit_proof(prover, job, bad, proof.clone()).await, "InvalidProof");
    reverted_with(market.submit_proof(prover, job, outputs[..9].to_vec(), proof.clone()).await, "WrongInstanceCount");
    // Tampered proof.
    let mut flipped = proof.clone();
    flipped[300] ^= 1;
    reverted_with(market.submit_proof(prover, job, outputs.clone(), flipped).await, "InvalidProof");
    // A proof of model A, bound to job B and the prover, on model B's job.
    let (inst_ab, proof_ab) = prove_for(fx, &fx.a, job_b, prover);
    let out_ab: Vec<U256> = inst_ab[n_in..inst_ab.len() - 1].iter().map(fr_to_u256).collect();
    reverted_with(market.submit_proof(prover, job_b, out_ab, proof_ab).await, "InvalidProof");
    assert_eq!(balances().await, before, "a rejected proof moved funds");

    // The valid proof: paid exactly the bounty, once.
    let r = market.submit_proof(prover, job, outputs.clone(), proof.clone()).await.unwrap();
    eprintln!("[{}] submitProof gas {} (total, incl. verification)", chain.describe(), r.gas_used);
    let after = balances().await;
    assert_eq!(after.1, before.1 + bounty);
    assert_eq!(after.3, before.3 - bounty);
    assert_eq!((after.0, after.2), (before.0, before.2));
    let j = market.job(job).await.unwrap();
    assert_eq!(j.status, JobMarket::Status::Settled);
    assert_eq!(j.prover, prover);
    assert_eq!(market.outputs(job).await.unwrap(), outputs);
    reverted_with(market.submit_proof(prover, job, outputs.clone(), proof.clone()).await, "JobNotOpen");
    assert_eq!(balances().await, after);

    // Refund: not before the deadline; after it, to the poster; and no proof after it.
    reverted_with(market.refund(poster, job_late).await, "DeadlineNotPassed");
    let (inst_late, proof_late) = prove_for(fx, &fx.a, job_late, prover);
    let out_late: Vec<U256> = inst_late[n_in..inst_late.len() - 1].iter().map(fr_to_u256).collect();
    chain.advance_time(3601).await.unwrap();
    reverted_with(market.submit_proof(prover, job_late, out_late, proof_late).await, "DeadlinePassed");
    reverted_with(market.refund(poster, job).await, "JobNotOpen");
    market.refund(thief, job_late).await.unwrap();
    let refunded = balances().await;
    assert_eq!(refunded.0, after.0 + bounty, "refund goes to the poster");
    assert_eq!(refunded.2, after.2);
    reverted_with(market.refund(poster, job_late).await, "JobNotOpen");
    assert_eq!(market.job(job_late).await.unwrap().status, JobMarket::Status::Refunded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_flow_on_the_embedded_chain() {
    market_flow(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_flow_on_anvil() {
    let Some(anvil) = anvil::start_for_tests() else { return };
    let keys: Vec<String> = DEV_KEYS.iter().map(|k| k.to_string()).collect();
    let chain = RpcChain::connect(&anvil.url, &keys).await.unwrap();
    market_flow(&chain).await;
}
