//! Real bytecode, real proofs: the generated EVM verifier and the JobMarket
//! flow on the embedded chain (revm) and on a real anvil node.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolEvent;
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::bn256::{Bn256, Fr, G1Affine};
use zkinfer_circuits::prove::{circuit_digest, keygen, model_id_for, prove, shape_of, verify};
use zkinfer_circuits::srs::Srs;
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};
use zkinfer_verifier::VerifierError;
use zkinfer_verifier::anvil;
use zkinfer_verifier::chain::{Chain, DEV_KEYS, RpcChain};
use zkinfer_verifier::encoding::{binding, fr_to_u256, int_to_u256};
use zkinfer_verifier::evm::{
    EvmVerifier, MAX_RUNTIME_SIZE, build_verifier, build_verifier_with, check_deployed, encode_calldata,
};
use zkinfer_verifier::market::{JobMarket, JobStatus, Market, ModelRegistry};

fn fixture(model: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(model).join(file)
}

struct Model {
    q: QModel,
    pk: ProvingKey<G1Affine>,
    verifier: EvmVerifier,
    id: B256,
    digest: B256,
}

impl Model {
    /// The code hash a requester pins for this model.
    fn code_hash(&self) -> B256 {
        B256::from(self.verifier.code_hash())
    }
    fn counts(&self) -> (u32, u32) {
        (self.q.input_len() as u32, self.q.output_len() as u32)
    }
}

struct Fixture {
    params: ParamsKZG<Bn256>,
    a: Model,
    /// Same architecture, other quantization: other weights, other key.
    b: Model,
    /// Model a's verifier split into 3 parts (2 would do): a chain with two links.
    a3: EvmVerifier,
    input: Vec<i64>,
}

fn model(params: &ParamsKZG<Bn256>, config: QuantConfig) -> Model {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let q = calibrate_and_quantize(&m, &calib, &config, || {}).unwrap().0;
    let pk = keygen(params, &q).unwrap();
    let n = q.input_len() + q.output_len() + 1;
    let verifier = build_verifier(params, pk.get_vk(), n).unwrap();
    let (empty, _) = shape_of(&q).unwrap();
    let id = B256::from(model_id_for(pk.get_vk(), empty.shape, &q));
    let digest = B256::from(circuit_digest(pk.get_vk(), empty.shape));
    Model { q, pk, verifier, id, digest }
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
        let a3 = build_verifier_with(&params, a.pk.get_vk(), a.verifier.num_instances, 3).unwrap();
        assert_eq!(a3.parts.len(), 3);
        let input = Dataset::read(&fixture("mlp_digits", "input.json")).unwrap();
        let input = a.q.quantize_input(&input.input_data[0]).unwrap().values;
        Fixture { params, a, b, a3, input }
    })
}

fn prove_for(fx: &Fixture, m: &Model, job: U256, prover: Address) -> (Vec<Fr>, Vec<u8>) {
    let p = prove(&fx.params, &m.pk, &m.q, &fx.input, binding(job, prover)).unwrap();
    verify(&fx.params, m.pk.get_vk(), &p.instances, &p.proof).unwrap();
    (p.instances, p.proof)
}

/// The outputs of a proof's instances (between the inputs and the binding).
fn outputs_of(instances: &[Fr], n_in: usize) -> Vec<U256> {
    instances[n_in..instances.len() - 1].iter().map(fr_to_u256).collect()
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

fn revert_data(r: Result<impl std::fmt::Debug, VerifierError>) -> Vec<u8> {
    match r {
        Err(VerifierError::Reverted { data, .. }) => data,
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// The market's custom error a call reverted with.
fn market_error(r: Result<impl std::fmt::Debug, VerifierError>) -> JobMarket::JobMarketErrors {
    use alloy::sol_types::SolInterface;
    let data = revert_data(r);
    JobMarket::JobMarketErrors::abi_decode(&data)
        .unwrap_or_else(|e| panic!("not a JobMarket error ({e}): 0x{}", hex::encode(&data)))
}

/// The registry's custom error a call reverted with.
fn registry_error(r: Result<impl std::fmt::Debug, VerifierError>) -> ModelRegistry::ModelRegistryErrors {
    use alloy::sol_types::SolInterface;
    let data = revert_data(r);
    ModelRegistry::ModelRegistryErrors::abi_decode(&data)
        .unwrap_or_else(|e| panic!("not a ModelRegistry error ({e}): 0x{}", hex::encode(&data)))
}

/// A verifier call that must revert with empty data (the verifier's "invalid").
async fn assert_rejected(chain: &Chain, to: Address, calldata: Vec<u8>, what: &str) {
    match chain.call(chain.accounts()[0], to, calldata).await {
        Err(VerifierError::Reverted { data, .. }) => {
            assert!(data.is_empty(), "{what}: revert data 0x{}", hex::encode(data))
        }
        other => panic!("{what} accepted: {other:?}"),
    }
}

async fn assert_accepted(chain: &Chain, to: Address, calldata: Vec<u8>, what: &str) -> u64 {
    let (out, gas) = chain.call(chain.accounts()[0], to, calldata).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.is_empty(), "{what}: returned 0x{}", hex::encode(out));
    gas
}

/// Creation code of a contract whose runtime is the single byte STOP: every
/// call to it succeeds with empty return data, i.e. it "accepts" any proof.
const ACCEPT_ALL: [u8; 13] = [0x60, 0x01, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x01, 0x60, 0x00, 0xf3, 0x00];

async fn deploy_accept_all(chain: &Chain) -> Address {
    let a = chain.deploy(chain.accounts()[0], ACCEPT_ALL.to_vec()).await.unwrap().contract.unwrap();
    assert_eq!(chain.code(a).await.unwrap(), vec![0x00]);
    a
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
    // verifier.sol is a faithful artifact: compiling the combined source gives
    // every part's code exactly (each part was compiled alone, last first).
    let again = zkinfer_verifier::evm::compile_solidity(&v.solidity).unwrap();
    for p in &v.parts {
        let q = again.parts.iter().find(|q| q.name == p.name).unwrap();
        assert_eq!(q.runtime, p.runtime, "{} compiles differently in the combined source", p.name);
    }
    let chain = Chain::embedded();
    let me = chain.accounts()[0];
    let deployed = v.deploy(&chain, me).await.unwrap();
    let addr = deployed.address;
    for (a, p) in deployed.parts.iter().zip(&v.parts) {
        assert_eq!(chain.code(*a).await.unwrap(), p.runtime, "deployed code of {} differs", p.name);
    }
    let check = check_deployed(&chain, addr, v).await.unwrap();
    assert!(check.is_ok(), "{:?}", check.problem);
    assert_eq!(check.parts.iter().map(|p| p.address).collect::<Vec<_>>(), deployed.parts);
    // Deployed twice, the same code hash: it does not depend on the addresses.
    let twice = v.deploy(&chain, me).await.unwrap();
    assert_ne!(twice.address, addr);
    assert!(check_deployed(&chain, twice.address, v).await.unwrap().is_ok());
    // The embedded chain enforces EIP-170 like mainnet: the unsplit verifier does not deploy.
    if v.unsplit_runtime > MAX_RUNTIME_SIZE {
        let single = zkinfer_verifier::evm::compile_solidity(
            &zkinfer_verifier::evm::generate_solidity(&fx.params, fx.a.pk.get_vk(), v.num_instances).unwrap(),
        )
        .unwrap();
        assert!(chain.deploy(me, single.parts[0].bytecode.clone()).await.is_err(), "EIP-170 not enforced");
    }

    let (instances, proof) = prove_for(fx, &fx.a, U256::from(1), me);
    let gas = assert_accepted(&chain, addr, encode_calldata(&instances, &proof), "the valid proof").await;
    assert!(gas > 200_000 && gas < 1_000_000, "verification gas {gas}");
    eprintln!(
        "mlp verifier: {} parts, runtime {:?} B (unsplit {} B), deploy gas {}, verify gas {gas}",
        v.parts.len(),
        v.parts.iter().map(|p| p.runtime.len()).collect::<Vec<_>>(),
        v.unsplit_runtime,
        deployed.gas
    );

    let tamper = |i: usize| {
        let mut inst = instances.clone();
        inst[i] += Fr::one();
        inst
    };
    let reject = |inst: Vec<Fr>, proof: Vec<u8>, what: &'static str| {
        let chain = &chain;
        async move { assert_rejected(chain, addr, encode_calldata(&inst, &proof), what).await }
    };
    let n_in = fx.a.q.input_len();
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
        assert_accepted(&chain, addr, encode_calldata(&p.instances, &p.proof), "the device-backend proof").await;
        let mut flipped = p.proof.clone();
        flipped[100] ^= 1;
        reject(p.instances.clone(), flipped, "corrupted device-backend proof").await;
    }
    // Model B's verifier rejects model A's proof.
    let b = fx.b.verifier.deploy(&chain, me).await.unwrap().address;
    assert_rejected(&chain, b, encode_calldata(&instances, &proof), "another model's verifier").await;
}

/// Attacks on the links of a split verifier, on real bytecode: a part whose
/// next-part address holds an account without code, or a contract that accepts
/// anything, must not let a forged output verify. Each part's runtime code is
/// copied to fresh addresses (the code hash a registry or requester compares
/// stays the genuine one) and its next-part slot pointed elsewhere.
async fn split_links_are_pinned(chain: &Chain) {
    let fx = fixture_models();
    let me = chain.accounts()[0];
    let eoa = chain.accounts()[4];
    let accept_all = deploy_accept_all(chain).await;
    let (instances, proof) = prove_for(fx, &fx.a, U256::from(7), me);
    let honest = encode_calldata(&instances, &proof);
    // A forged output: class 0's score raised; the proof points are intact.
    let n_in = fx.a.q.input_len();
    let mut forged_instances = instances.clone();
    forged_instances[n_in] += Fr::from(1000u64);
    let forged = encode_calldata(&forged_instances, &proof);
    // The accept-all contract does accept it: it is a real "verifier that accepts anything".
    assert_accepted(chain, accept_all, forged.clone(), "the accept-all contract").await;

    let mut fresh = 0x40u8;
    for v in [&fx.a.verifier, &fx.a3] {
        let n = v.parts.len();
        let genuine = v.deploy(chain, me).await.unwrap();
        assert_accepted(chain, genuine.address, honest.clone(), "the genuine chain").await;
        assert_rejected(chain, genuine.address, forged.clone(), "forged output, genuine chain").await;

        for link in 0..n - 1 {
            // Copies of parts 0..=link at fresh addresses, chained; the last copy's
            // next part is `target`.
            let mut copies = Vec::new();
            for p in &v.parts[..=link] {
                fresh += 1;
                let at = Address::repeat_byte(fresh);
                chain.dev_set_code(at, p.runtime.clone()).await.unwrap();
                copies.push(at);
            }
            for j in 0..link {
                chain
                    .dev_set_storage(copies[j], U256::ZERO, U256::from_be_slice(copies[j + 1].as_slice()))
                    .await
                    .unwrap();
            }
            let entry = copies[0];
            let point_last_at = |target: Address| {
                let at = copies[link];
                async move {
                    chain.dev_set_storage(at, U256::ZERO, U256::from_be_slice(target.as_slice())).await.unwrap();
                }
            };
            let what = |s: &str| format!("{} parts, link {link} → {s}", n);
            // Control: pointed at the genuine next part, the copies verify — so the
            // rejections below are the pin's doing, not a broken copy.
            point_last_at(genuine.parts[link + 1]).await;
            assert_accepted(chain, entry, honest.clone(), &what("genuine next part, honest proof")).await;
            assert!(check_deployed(chain, entry, v).await.unwrap().is_ok());
            assert_rejected(chain, entry, forged.clone(), &what("genuine next part, forged output")).await;

            for (target, name, problem) in
                [(eoa, "an EOA", "has no code"), (accept_all, "an accept-all contract", "other code")]
            {
                point_last_at(target).await;
                assert_rejected(chain, entry, forged.clone(), &what(&format!("{name}, forged output"))).await;
                assert_rejected(chain, entry, honest.clone(), &what(&format!("{name}, honest proof"))).await;
                // `evm check` names the part that differs.
                let report = check_deployed(chain, entry, v).await.unwrap();
                let p = report.problem.expect("a mismatch");
                assert!(p.contains(&format!("part {} ", link + 1)) && p.contains(problem), "{p}");
                assert_eq!(report.parts.len(), link + 2);
            }
        }

        // The constructors refuse a wrong next part: deploying part i with the
        // address of an EOA, an accept-all contract or another part reverts
        // WrongNextPart(next, codeHash).
        for i in 0..n - 1 {
            for (next, hash) in [
                (eoa, None),
                (accept_all, Some(alloy::primitives::keccak256([0x00u8]))),
                (genuine.parts[i], Some(B256::from(v.parts[i].code_hash()))),
            ] {
                use alloy::sol_types::SolValue;
                let mut code = v.parts[i].bytecode.clone();
                code.extend(next.abi_encode());
                let data = revert_data(chain.deploy(me, code).await);
                // WrongNextPart(address,bytes32): selector, the address, the code hash found.
                assert_eq!(data.len(), 4 + 64, "{}: 0x{}", v.parts[i].name, hex::encode(&data));
                assert_eq!(&data[..4], &alloy::primitives::keccak256("WrongNextPart(address,bytes32)")[..4]);
                assert_eq!(&data[16..36], next.as_slice());
                if let Some(h) = hash {
                    assert_eq!(&data[36..68], h.as_slice());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_links_are_pinned_on_the_embedded_chain() {
    split_links_are_pinned(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_links_are_pinned_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    split_links_are_pinned(&anvil_chain(&anvil).await).await;
}

async fn anvil_chain(anvil: &anvil::Anvil) -> Chain {
    let keys: Vec<String> = DEV_KEYS.iter().map(|k| k.to_string()).collect();
    RpcChain::connect(&anvil.url, &keys).await.unwrap()
}

/// Deploys the contracts and model a's verifier, registers model a, and funds
/// `poster` with 1000 tokens approved for the market.
async fn market_with_a(chain: &Chain, poster: Address) -> (Market<'_>, Address) {
    let fx = fixture_models();
    let deployer = chain.accounts()[0];
    let (market, _) = Market::deploy(chain, deployer, U256::from(1_000_000u64)).await.unwrap();
    let v = market.deploy_verifier(deployer, &fx.a.verifier).await.unwrap().address;
    let (n_in, n_out) = fx.a.counts();
    let (id, _) = market.register_model(deployer, fx.a.digest, n_in, n_out, v, "ipfs://mlp").await.unwrap();
    assert_eq!(id, fx.a.id);
    market.transfer(deployer, poster, U256::from(1000u64)).await.unwrap();
    market.approve(poster, U256::from(1000u64)).await.unwrap();
    (market, v)
}

fn quantized_inputs(fx: &Fixture) -> Vec<U256> {
    fx.input.iter().map(|&x| int_to_u256(x)).collect()
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
        let (n_in, n_out) = m.counts();
        // The registry computes the model id from the circuit digest and the counts: the same as Rust's.
        assert_eq!(market.model_id_on_chain(m.digest, n_in, n_out).await.unwrap(), m.id);
        let (id, r) = market.register_model(deployer, m.digest, n_in, n_out, v, "ipfs://mlp").await.unwrap();
        eprintln!("[{}] register gas {}", chain.describe(), r.gas_used);
        assert_eq!(id, m.id);
        verifiers.push(v);
    }
    let entry = market.model(fx.a.id).await.unwrap();
    assert_eq!((entry.verifier, entry.verifierCodeHash, entry.owner), (verifiers[0], fx.a.code_hash(), deployer));
    assert_eq!((entry.numInputs, entry.numOutputs, entry.circuitDigest), (64, 10, fx.a.digest));
    assert_eq!((entry.pendingVerifier, entry.pendingEffectiveAt), (Address::ZERO, 0));
    assert_eq!(
        registry_error(market.register_model(thief, fx.a.digest, 64, 10, verifiers[1], "x").await),
        ModelRegistry::ModelRegistryErrors::AlreadyRegistered(ModelRegistry::AlreadyRegistered { modelId: fx.a.id })
    );
    assert_eq!(
        registry_error(market.register_model(thief, B256::repeat_byte(3), 64, 10, thief, "x").await),
        ModelRegistry::ModelRegistryErrors::NotAContract(ModelRegistry::NotAContract { verifier: thief })
    );
    reverted_with(market.model(B256::repeat_byte(7)).await, "UnknownModel");

    market.transfer(deployer, poster, U256::from(1000u64)).await.unwrap();
    market.approve(poster, U256::from(1000u64)).await.unwrap();
    let inputs = quantized_inputs(fx);
    let now = chain.timestamp().await.unwrap();
    let bounty = U256::from(100u64);
    let (ha, hb) = (fx.a.code_hash(), fx.b.code_hash());
    reverted_with(
        market.post_job(poster, fx.a.id, ha, inputs[..10].to_vec(), bounty, now + 3600).await,
        "WrongInstanceCount",
    );
    reverted_with(market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, now - 1).await, "BadDeadline");
    // Deadlines have a maximum (30 days).
    let e = market_error(market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, now + 31 * 86_400).await);
    assert!(matches!(e, JobMarket::JobMarketErrors::BadDeadline(ref x) if x.deadline == now + 31 * 86_400), "{e:?}");
    // The requester pins the verifier: another model's verifier hash, or none, reverts.
    for wrong in [hb, B256::ZERO] {
        assert_eq!(
            market_error(market.post_job(poster, fx.a.id, wrong, inputs.clone(), bounty, now + 3600).await),
            JobMarket::JobMarketErrors::VerifierMismatch(JobMarket::VerifierMismatch {
                modelId: fx.a.id,
                expectedCodeHash: wrong,
                actualCodeHash: ha
            })
        );
    }
    let (job, r) = market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, now + 3600).await.unwrap();
    eprintln!("[{}] postJob gas {} ({} inputs)", chain.describe(), r.gas_used, inputs.len());
    let (job_b, _) = market.post_job(poster, fx.b.id, hb, inputs.clone(), bounty, now + 3600).await.unwrap();
    let (job_late, _) = market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, now + 3600).await.unwrap();
    let posted = market.posted_jobs(0, None).await.unwrap();
    assert_eq!(posted.iter().map(|p| p.job_id).collect::<Vec<_>>(), vec![job, job_b, job_late]);
    assert_eq!(posted[0].inputs, inputs);
    assert_eq!((posted[0].verifier, posted[0].verifier_code_hash), (verifiers[0], ha));
    assert_eq!((posted[1].verifier, posted[1].verifier_code_hash), (verifiers[1], hb));
    let j = market.job(job).await.unwrap();
    assert_eq!((j.verifier, j.verifierCodeHash, j.numOutputs, j.poster), (verifiers[0], ha, 10, poster));
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
    let outputs = outputs_of(&instances, n_in);

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
    reverted_with(market.submit_proof(prover, job_b, outputs_of(&inst_ab, n_in), proof_ab).await, "InvalidProof");
    assert_eq!(balances().await, before, "a rejected proof moved funds");

    // The valid proof: paid exactly the bounty, once.
    let r = market.submit_proof(prover, job, outputs.clone(), proof.clone()).await.unwrap();
    eprintln!("[{}] submitProof gas {} (total, incl. verification)", chain.describe(), r.gas_used);
    let after = balances().await;
    assert_eq!(after.1, before.1 + bounty);
    assert_eq!(after.3, before.3 - bounty);
    assert_eq!((after.0, after.2), (before.0, before.2));
    let j = market.job(job).await.unwrap();
    assert_eq!(j.state(), JobStatus::Settled);
    assert_eq!(j.prover, prover);
    assert_eq!(market.outputs(job).await.unwrap(), outputs);
    reverted_with(market.submit_proof(prover, job, outputs.clone(), proof.clone()).await, "JobNotOpen");
    assert_eq!(balances().await, after);

    // Refund: not before the deadline; after it, to the poster; and no proof after it.
    reverted_with(market.refund(poster, job_late).await, "DeadlineNotPassed");
    let (inst_late, proof_late) = prove_for(fx, &fx.a, job_late, prover);
    chain.advance_time(3601).await.unwrap();
    reverted_with(
        market.submit_proof(prover, job_late, outputs_of(&inst_late, n_in), proof_late).await,
        "DeadlinePassed",
    );
    reverted_with(market.refund(poster, job).await, "JobNotOpen");
    market.refund(thief, job_late).await.unwrap();
    let refunded = balances().await;
    assert_eq!(refunded.0, after.0 + bounty, "refund goes to the poster");
    assert_eq!(refunded.2, after.2);
    reverted_with(market.refund(poster, job_late).await, "JobNotOpen");
    assert_eq!(market.job(job_late).await.unwrap().state(), JobStatus::Refunded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_flow_on_the_embedded_chain() {
    market_flow(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_flow_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    market_flow(&anvil_chain(&anvil).await).await;
}

/// Cancelling: only the poster; the job stays open for proofs for the grace
/// period (a prover at work is paid), then it is refunded.
async fn cancel_flow(chain: &Chain) {
    let fx = fixture_models();
    let acc = chain.accounts();
    let (poster, prover, thief) = (acc[1], acc[2], acc[3]);
    let (market, _) = market_with_a(chain, poster).await;
    let (ha, inputs, bounty) = (fx.a.code_hash(), quantized_inputs(fx), U256::from(100u64));
    let now = chain.timestamp().await.unwrap();
    let deadline = now + 7 * 86_400;
    let (kept, _) = market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, deadline).await.unwrap();
    let (dropped, _) = market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, deadline).await.unwrap();
    let (soon, _) = market.post_job(poster, fx.a.id, ha, inputs.clone(), bounty, now + 600).await.unwrap();
    assert_eq!(
        market_error(market.cancel_job(thief, kept).await),
        JobMarket::JobMarketErrors::NotPoster(JobMarket::NotPoster { jobId: kept, caller: thief })
    );
    // A deadline already within the grace period: nothing to cancel.
    assert_eq!(
        market_error(market.cancel_job(poster, soon).await),
        JobMarket::JobMarketErrors::DeadlineWithinGrace(JobMarket::DeadlineWithinGrace {
            jobId: soon,
            deadline: now + 600
        })
    );
    for job in [kept, dropped] {
        let r = market.cancel_job(poster, job).await.unwrap();
        let new_deadline = market.job(job).await.unwrap().deadline;
        let ev = r.logs.iter().find_map(|l| JobMarket::JobCancelled::decode_log_data(&l.data).ok()).unwrap();
        assert_eq!((ev.jobId, ev.deadline), (job, new_deadline));
        assert!(new_deadline > now && new_deadline <= now + 3600 + 60, "{new_deadline} vs now {now}");
        // Cancelling is not a way to get the bounty back before the grace ends.
        reverted_with(market.refund(poster, job).await, "DeadlineNotPassed");
    }
    let poster_before = market.balance(poster).await.unwrap();
    // Within the grace period a proof still settles and is paid.
    let (inst, proof) = prove_for(fx, &fx.a, kept, prover);
    market.submit_proof(prover, kept, outputs_of(&inst, inputs.len()), proof).await.unwrap();
    assert_eq!(market.balance(prover).await.unwrap(), bounty);
    reverted_with(market.cancel_job(poster, kept).await, "JobNotOpen");
    // After it, no proof; the poster gets the bounty back.
    let (inst, proof) = prove_for(fx, &fx.a, dropped, prover);
    chain.advance_time(3600 + 120).await.unwrap();
    reverted_with(market.submit_proof(prover, dropped, outputs_of(&inst, inputs.len()), proof).await, "DeadlinePassed");
    market.refund(thief, dropped).await.unwrap();
    assert_eq!(market.balance(poster).await.unwrap(), poster_before + bounty);
    assert_eq!(market.balance(prover).await.unwrap(), bounty);
    assert_eq!(market.balance(market.contracts.market).await.unwrap(), bounty, "the uncancelled job's bounty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_flow_on_the_embedded_chain() {
    cancel_flow(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_flow_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    cancel_flow(&anvil_chain(&anvil).await).await;
}

/// A registry update is announced and takes effect after the delay; jobs keep
/// the verifier they were posted with, and a requester's pin makes a post
/// revert once an update it did not expect is effective.
async fn registry_update_flow(chain: &Chain) {
    let fx = fixture_models();
    let acc = chain.accounts();
    let (owner, poster, prover, thief) = (acc[0], acc[1], acc[2], acc[3]);
    let (market, v1) = market_with_a(chain, poster).await;
    // The owner turns malicious: an update to a contract that accepts anything.
    let evil = deploy_accept_all(chain).await;
    let h_evil = alloy::primitives::keccak256([0x00u8]);
    let (h1, inputs, bounty) = (fx.a.code_hash(), quantized_inputs(fx), U256::from(100u64));
    let id = fx.a.id;
    let delay = 2 * 86_400;
    let deadline = |now: u64| now + 5 * 86_400;

    assert_eq!(
        registry_error(market.propose_update(thief, id, evil, "x").await),
        ModelRegistry::ModelRegistryErrors::NotModelOwner(ModelRegistry::NotModelOwner { modelId: id, caller: thief })
    );
    assert_eq!(
        registry_error(market.propose_update(owner, id, thief, "x").await),
        ModelRegistry::ModelRegistryErrors::NotAContract(ModelRegistry::NotAContract { verifier: thief })
    );
    let (effective_at, r) = market.propose_update(owner, id, evil, "ipfs://evil").await.unwrap();
    let proposed_at = chain.timestamp().await.unwrap();
    assert!(effective_at >= proposed_at + delay - 60 && effective_at <= proposed_at + delay + 60, "{effective_at}");
    let ev = r.logs.iter().find_map(|l| ModelRegistry::ModelUpdateProposed::decode_log_data(&l.data).ok()).unwrap();
    assert_eq!((ev.modelId, ev.verifier, ev.verifierCodeHash, ev.effectiveAt), (id, evil, h_evil, effective_at));
    // Announced, not effective: the entry still names v1 and shows what is coming.
    let m = market.model(id).await.unwrap();
    assert_eq!((m.verifier, m.verifierCodeHash, m.metadataURI.as_str()), (v1, h1, "ipfs://mlp"));
    assert_eq!((m.pendingVerifier, m.pendingCodeHash, m.pendingEffectiveAt), (evil, h_evil, effective_at));
    assert_eq!(
        registry_error(market.apply_update(thief, id).await),
        ModelRegistry::ModelRegistryErrors::UpdateNotYetEffective(ModelRegistry::UpdateNotYetEffective {
            modelId: id,
            effectiveAt: effective_at
        })
    );

    // The update just announced: a post pinned to v1 goes through and the job keeps v1.
    let now = chain.timestamp().await.unwrap();
    let (job1, _) = market.post_job(poster, id, h1, inputs.clone(), bounty, deadline(now)).await.unwrap();
    // A post pinned to the announced verifier is refused until it is effective.
    assert_eq!(
        market_error(market.post_job(poster, id, h_evil, inputs.clone(), bounty, deadline(now)).await),
        JobMarket::JobMarketErrors::VerifierMismatch(JobMarket::VerifierMismatch {
            modelId: id,
            expectedCodeHash: h_evil,
            actualCodeHash: h1
        })
    );
    // Ten minutes before it takes effect: still v1.
    let now = chain.timestamp().await.unwrap();
    chain.advance_time(effective_at - now - 600).await.unwrap();
    let now = chain.timestamp().await.unwrap();
    let (job2, _) = market.post_job(poster, id, h1, inputs.clone(), bounty, deadline(now)).await.unwrap();
    assert_eq!(market.job(job2).await.unwrap().verifier, v1);
    // The update has landed (effective) just before this post: pinned to v1, it reverts.
    chain.advance_time(600 + 5).await.unwrap();
    let now = chain.timestamp().await.unwrap();
    assert_eq!(
        market_error(market.post_job(poster, id, h1, inputs.clone(), bounty, deadline(now)).await),
        JobMarket::JobMarketErrors::VerifierMismatch(JobMarket::VerifierMismatch {
            modelId: id,
            expectedCodeHash: h1,
            actualCodeHash: h_evil
        })
    );
    let m = market.model(id).await.unwrap();
    assert_eq!((m.verifier, m.verifierCodeHash, m.metadataURI.as_str()), (evil, h_evil, "ipfs://evil"));
    assert_eq!(m.pendingEffectiveAt, 0);
    // Jobs posted before keep v1: a forged output is still rejected, the honest proof paid.
    let market_before = market.balance(market.contracts.market).await.unwrap();
    for job in [job1, job2] {
        assert_eq!(market.job(job).await.unwrap().verifier, v1);
        let (inst, proof) = prove_for(fx, &fx.a, job, prover);
        let outputs = outputs_of(&inst, inputs.len());
        let mut forged = outputs.clone();
        forged[3] += U256::from(1000u64);
        reverted_with(market.submit_proof(prover, job, forged, proof.clone()).await, "InvalidProof");
        market.submit_proof(prover, job, outputs, proof).await.unwrap();
    }
    assert_eq!(market.balance(prover).await.unwrap(), bounty * U256::from(2u64));
    assert_eq!(market.balance(market.contracts.market).await.unwrap(), market_before - bounty * U256::from(2u64));

    // Writing the effective update to storage changes nothing visible; the owner
    // cannot withdraw an update that is effective; a later one can be withdrawn.
    assert_eq!(
        registry_error(market.cancel_update(owner, id).await),
        ModelRegistry::ModelRegistryErrors::UpdateAlreadyEffective(ModelRegistry::UpdateAlreadyEffective {
            modelId: id,
            effectiveAt: effective_at
        })
    );
    let r = market.apply_update(thief, id).await.unwrap();
    let ev = r.logs.iter().find_map(|l| ModelRegistry::ModelUpdated::decode_log_data(&l.data).ok()).unwrap();
    assert_eq!((ev.verifier, ev.effectiveAt), (evil, effective_at));
    assert_eq!(market.model(id).await.unwrap().verifier, evil);
    assert_eq!(
        registry_error(market.cancel_update(owner, id).await),
        ModelRegistry::ModelRegistryErrors::NoPendingUpdate(ModelRegistry::NoPendingUpdate { modelId: id })
    );
    market.propose_update(owner, id, v1, "ipfs://mlp").await.unwrap();
    market.cancel_update(owner, id).await.unwrap();
    chain.advance_time(delay + 60).await.unwrap();
    let m = market.model(id).await.unwrap();
    assert_eq!((m.verifier, m.pendingVerifier, m.pendingEffectiveAt), (evil, Address::ZERO, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_update_flow_on_the_embedded_chain() {
    registry_update_flow(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_update_flow_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    registry_update_flow(&anvil_chain(&anvil).await).await;
}

/// A job's verifier that loses its code (or whose code changes) cannot settle
/// it: a call to an address without code would succeed.
async fn verifier_code_is_checked(chain: &Chain) {
    let fx = fixture_models();
    let acc = chain.accounts();
    let (poster, prover) = (acc[1], acc[2]);
    let (market, v1) = market_with_a(chain, poster).await;
    let (h1, inputs, bounty) = (fx.a.code_hash(), quantized_inputs(fx), U256::from(100u64));
    let now = chain.timestamp().await.unwrap();
    let (job, _) = market.post_job(poster, fx.a.id, h1, inputs.clone(), bounty, now + 3600).await.unwrap();
    let (inst, proof) = prove_for(fx, &fx.a, job, prover);
    let outputs = outputs_of(&inst, inputs.len());
    let mut forged = outputs.clone();
    forged[0] += U256::from(1000u64);
    let genuine = chain.code(v1).await.unwrap();
    let escrow = market.balance(market.contracts.market).await.unwrap();

    chain.dev_set_code(v1, Vec::new()).await.unwrap();
    for o in [&forged, &outputs] {
        assert_eq!(
            market_error(market.submit_proof(prover, job, o.clone(), proof.clone()).await),
            JobMarket::JobMarketErrors::NoVerifierCode(JobMarket::NoVerifierCode { verifier: v1 })
        );
    }
    // Nor can a job be posted on it.
    assert_eq!(
        market_error(market.post_job(poster, fx.a.id, h1, inputs.clone(), bounty, now + 3600).await),
        JobMarket::JobMarketErrors::NoVerifierCode(JobMarket::NoVerifierCode { verifier: v1 })
    );
    // Code that accepts anything, at the same address: refused by its hash.
    chain.dev_set_code(v1, vec![0x00]).await.unwrap();
    assert_eq!(
        market_error(market.submit_proof(prover, job, forged.clone(), proof.clone()).await),
        JobMarket::JobMarketErrors::VerifierCodeChanged(JobMarket::VerifierCodeChanged {
            jobId: job,
            expectedCodeHash: h1,
            actualCodeHash: alloy::primitives::keccak256([0x00u8])
        })
    );
    assert_eq!(market.balance(market.contracts.market).await.unwrap(), escrow);
    assert_eq!(market.balance(prover).await.unwrap(), U256::ZERO);
    // The genuine code back: the honest proof settles.
    chain.dev_set_code(v1, genuine).await.unwrap();
    reverted_with(market.submit_proof(prover, job, forged, proof.clone()).await, "InvalidProof");
    market.submit_proof(prover, job, outputs, proof).await.unwrap();
    assert_eq!(market.balance(prover).await.unwrap(), bounty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_code_is_checked_on_the_embedded_chain() {
    verifier_code_is_checked(&Chain::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_code_is_checked_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    verifier_code_is_checked(&anvil_chain(&anvil).await).await;
}
