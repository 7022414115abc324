//! The contracts' bindings (`RewardToken`, `ModelRegistry`, `JobMarket`) and a
//! client that deploys and drives them on any [`Chain`].
//!
//! The bindings and the bytecode are generated from the committed
//! `contracts/artifacts/*.json` (ABI and bytecode), compiled by the pinned solc-js
//! (`npm run build` in contracts/; the test script checks that the artifacts
//! match the sources).

use alloy::primitives::{Address, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent, SolInterface};

use crate::chain::{Chain, Receipt};
use crate::error::{Result, VerifierError};

// The bindings are generated from the committed artifacts (their ABI and bytecode), so
// they cannot drift from the contracts: `npm run build` in contracts/ rewrites both.
sol!(
    /// ERC20 bounty token of the local chain.
    #[derive(Debug)]
    RewardToken,
    "../contracts/artifacts/RewardToken.json"
);

sol!(
    /// Model id → verifier, owner, instance counts, metadata; delayed updates.
    #[derive(Debug, PartialEq, Eq)]
    #[allow(clippy::too_many_arguments)] // the generated constructors of 8-field events
    ModelRegistry,
    "../contracts/artifacts/ModelRegistry.json"
);

sol!(
    /// Proof-gated job market.
    #[derive(Debug, PartialEq, Eq)]
    #[allow(clippy::too_many_arguments)] // the generated constructors of 8-field events
    JobMarket,
    "../contracts/artifacts/JobMarket.json"
);

/// A job's status in the market: `JobMarket.Status` (`enum Status { None, Open,
/// Settled, Refunded }` in JobMarket.sol; the JSON ABI carries it as a `uint8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// No such job.
    None,
    /// Posted, not settled or refunded.
    Open,
    /// A proof was accepted and the bounty paid.
    Settled,
    /// The bounty went back to the poster.
    Refunded,
    /// A value the contract does not define.
    Unknown(u8),
}

impl From<u8> for JobStatus {
    fn from(s: u8) -> JobStatus {
        match s {
            0 => JobStatus::None,
            1 => JobStatus::Open,
            2 => JobStatus::Settled,
            3 => JobStatus::Refunded,
            v => JobStatus::Unknown(v),
        }
    }
}

impl JobMarket::Job {
    /// [`JobStatus`] of the job.
    pub fn state(&self) -> JobStatus {
        self.status.into()
    }
}

/// Where the three contracts live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contracts {
    /// The ERC20 bounties are paid in.
    pub token: Address,
    /// `ModelRegistry`.
    pub registry: Address,
    /// `JobMarket`.
    pub market: Address,
}

/// Gas of deploying the three contracts.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeployGas {
    /// `RewardToken`.
    pub token: u64,
    /// `ModelRegistry`.
    pub registry: u64,
    /// `JobMarket`.
    pub market: u64,
}

/// A posted job, decoded from its `JobPosted` event.
#[derive(Clone, Debug)]
pub struct PostedJob {
    /// Job id (a hash; 32 big-endian bytes in the binding).
    pub job_id: U256,
    /// Model id.
    pub model_id: B256,
    /// Who posted it.
    pub poster: Address,
    /// Escrowed bounty.
    pub bounty: U256,
    /// Unix time after which it can no longer be settled (as posted; a
    /// cancellation brings it forward, see `JobMarket.cancel`).
    pub deadline: u64,
    /// The verifier the job is settled by, fixed when it was posted.
    pub verifier: Address,
    /// That verifier's runtime code hash, as the poster pinned it.
    pub verifier_code_hash: B256,
    /// The quantized inputs as field elements.
    pub inputs: Vec<U256>,
    /// Block of the event.
    pub block: u64,
}

/// A client of the deployed contracts on one chain.
pub struct Market<'c> {
    /// The chain.
    pub chain: &'c Chain,
    /// The contracts' addresses.
    pub contracts: Contracts,
}

impl<'c> Market<'c> {
    /// Deploys `RewardToken` (minting `initial_supply` to `from`), `ModelRegistry`
    /// and `JobMarket` from `from`.
    pub async fn deploy(chain: &'c Chain, from: Address, initial_supply: U256) -> Result<(Market<'c>, DeployGas)> {
        let mut gas = DeployGas::default();
        let deploy = |code: Vec<u8>| async move {
            let r = chain.deploy(from, code).await?;
            Ok::<_, VerifierError>((r.contract.expect("deploy checks"), r.gas_used))
        };
        let mut code = RewardToken::BYTECODE.to_vec();
        code.extend(RewardToken::constructorCall { initialSupply: initial_supply }.abi_encode());
        let (token, g) = deploy(code).await?;
        gas.token = g;
        let (registry, g) = deploy(ModelRegistry::BYTECODE.to_vec()).await?;
        gas.registry = g;
        let mut code = JobMarket::BYTECODE.to_vec();
        code.extend(JobMarket::constructorCall { token_: token, registry_: registry }.abi_encode());
        let (market, g) = deploy(code).await?;
        gas.market = g;
        Ok((Market { chain, contracts: Contracts { token, registry, market } }, gas))
    }

    /// A client of contracts already deployed at `contracts`; checks that the
    /// market address holds code.
    pub async fn attach(chain: &'c Chain, contracts: Contracts) -> Result<Market<'c>> {
        for (name, a) in [("token", contracts.token), ("registry", contracts.registry), ("market", contracts.market)] {
            if chain.code(a).await?.is_empty() {
                return Err(VerifierError::Invalid(format!("no contract at the {name} address {a}")));
            }
        }
        Ok(Market { chain, contracts })
    }

    async fn send<C: SolCall>(&self, from: Address, to: Address, call: C) -> Result<Receipt> {
        self.chain.send(from, to, call.abi_encode()).await.map_err(decode_revert)
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let from = self.chain.accounts().first().copied().unwrap_or_default();
        let (out, _) = self.chain.call(from, to, call.abi_encode()).await.map_err(decode_revert)?;
        C::abi_decode_returns(&out).map_err(|e| VerifierError::Invalid(format!("decoding {}: {e}", C::SIGNATURE)))
    }

    /// A client of the market at `market`, reading its token and registry from it.
    pub async fn at(chain: &'c Chain, market: Address) -> Result<Market<'c>> {
        if chain.code(market).await?.is_empty() {
            return Err(VerifierError::Invalid(format!("no contract at the market address {market}")));
        }
        let probe = Market { chain, contracts: Contracts { token: market, registry: market, market } };
        let token = probe.view(market, JobMarket::tokenCall {}).await?;
        let registry = probe.view(market, JobMarket::registryCall {}).await?;
        Market::attach(chain, Contracts { token, registry, market }).await
    }

    /// Deploys a verifier (all its parts).
    pub async fn deploy_verifier(
        &self,
        from: Address,
        verifier: &crate::evm::EvmVerifier,
    ) -> Result<crate::evm::Deployed> {
        verifier.deploy(self.chain, from).await
    }

    /// Registers the model of `circuit_digest` with these instance counts and
    /// its verifier (owner = `from`); returns the model id the registry
    /// computed (`keccak256(circuit_digest ‖ num_inputs ‖ num_outputs)`).
    pub async fn register_model(
        &self,
        from: Address,
        circuit_digest: B256,
        num_inputs: u32,
        num_outputs: u32,
        verifier: Address,
        metadata_uri: &str,
    ) -> Result<(B256, Receipt)> {
        let call = ModelRegistry::registerCall {
            circuitDigest: circuit_digest,
            numInputs: num_inputs,
            numOutputs: num_outputs,
            verifier,
            metadataURI: metadata_uri.to_string(),
        };
        let r = self.send(from, self.contracts.registry, call).await?;
        let id = r
            .logs
            .iter()
            .filter(|l| l.address == self.contracts.registry)
            .find_map(|l| ModelRegistry::ModelRegistered::decode_log_data(&l.data).ok())
            .map(|e| e.modelId)
            .ok_or_else(|| VerifierError::Chain("register emitted no ModelRegistered event".into()))?;
        Ok((id, r))
    }

    /// Announces a new verifier (and URI) for `model_id`; returns when it takes effect.
    pub async fn propose_update(
        &self,
        from: Address,
        model_id: B256,
        verifier: Address,
        metadata_uri: &str,
    ) -> Result<(u64, Receipt)> {
        let call =
            ModelRegistry::proposeUpdateCall { modelId: model_id, verifier, metadataURI: metadata_uri.to_string() };
        let r = self.send(from, self.contracts.registry, call).await?;
        let at = r
            .logs
            .iter()
            .filter(|l| l.address == self.contracts.registry)
            .find_map(|l| ModelRegistry::ModelUpdateProposed::decode_log_data(&l.data).ok())
            .map(|e| e.effectiveAt)
            .ok_or_else(|| VerifierError::Chain("proposeUpdate emitted no ModelUpdateProposed event".into()))?;
        Ok((at, r))
    }

    /// Withdraws the update of `model_id` that has not taken effect.
    pub async fn cancel_update(&self, from: Address, model_id: B256) -> Result<Receipt> {
        self.send(from, self.contracts.registry, ModelRegistry::cancelUpdateCall { modelId: model_id }).await
    }

    /// Writes an update that has taken effect to the registry's storage.
    pub async fn apply_update(&self, from: Address, model_id: B256) -> Result<Receipt> {
        self.send(from, self.contracts.registry, ModelRegistry::applyUpdateCall { modelId: model_id }).await
    }

    /// The registry entry of `model_id`, as effective at the latest block.
    pub async fn model(&self, model_id: B256) -> Result<ModelRegistry::Model> {
        self.view(self.contracts.registry, ModelRegistry::getCall { modelId: model_id }).await
    }

    /// The model id the registry computes for a circuit digest and instance counts.
    pub async fn model_id_on_chain(&self, circuit_digest: B256, num_inputs: u32, num_outputs: u32) -> Result<B256> {
        let call = ModelRegistry::modelIdOfCall {
            circuitDigest: circuit_digest,
            numInputs: num_inputs,
            numOutputs: num_outputs,
        };
        self.view(self.contracts.registry, call).await
    }

    /// Whether `model_id` is registered.
    pub async fn is_registered(&self, model_id: B256) -> Result<bool> {
        self.view(self.contracts.registry, ModelRegistry::isRegisteredCall { modelId: model_id }).await
    }

    /// Transfers `amount` tokens from `from` to `to`.
    pub async fn transfer(&self, from: Address, to: Address, amount: U256) -> Result<Receipt> {
        self.send(from, self.contracts.token, RewardToken::transferCall { to, value: amount }).await
    }

    /// Token balance of `who`.
    pub async fn balance(&self, who: Address) -> Result<U256> {
        self.view(self.contracts.token, RewardToken::balanceOfCall { account: who }).await
    }

    /// Approves the market for `amount` of `from`'s tokens.
    pub async fn approve(&self, from: Address, amount: U256) -> Result<Receipt> {
        self.send(
            from,
            self.contracts.token,
            RewardToken::approveCall { spender: self.contracts.market, value: amount },
        )
        .await
    }

    /// Posts a job (approve the bounty first); returns its id from the event.
    /// `verifier_code_hash` pins the verifier: the runtime code hash of the
    /// verifier generated from the model's verifying key
    /// ([`crate::EvmVerifier::code_hash`]); the market reverts
    /// `VerifierMismatch` unless the model's effective verifier has that code.
    pub async fn post_job(
        &self,
        from: Address,
        model_id: B256,
        verifier_code_hash: B256,
        inputs: Vec<U256>,
        bounty: U256,
        deadline: u64,
    ) -> Result<(U256, Receipt)> {
        let call = JobMarket::postJobCall {
            modelId: model_id,
            verifierCodeHash: verifier_code_hash,
            inputs,
            bounty,
            deadline,
        };
        let r = self.send(from, self.contracts.market, call).await?;
        let id = r
            .logs
            .iter()
            .filter(|l| l.address == self.contracts.market)
            .find_map(|l| JobMarket::JobPosted::decode_log_data(&l.data).ok())
            .map(|e| e.jobId)
            .ok_or_else(|| VerifierError::Chain("postJob emitted no JobPosted event".into()))?;
        Ok((id, r))
    }

    /// Submits `outputs` and `proof` for `job_id` from `from` (the prover the
    /// proof is bound to).
    pub async fn submit_proof(
        &self,
        from: Address,
        job_id: U256,
        outputs: Vec<U256>,
        proof: Vec<u8>,
    ) -> Result<Receipt> {
        let call = JobMarket::submitProofCall { jobId: job_id, outputs, proof: proof.into() };
        self.send(from, self.contracts.market, call).await
    }

    /// Cancels an open job (its poster only): it stays open for proofs for the
    /// market's grace period, then can be refunded.
    pub async fn cancel_job(&self, from: Address, job_id: U256) -> Result<Receipt> {
        self.send(from, self.contracts.market, JobMarket::cancelCall { jobId: job_id }).await
    }

    /// Refunds an expired job to its poster.
    pub async fn refund(&self, from: Address, job_id: U256) -> Result<Receipt> {
        self.send(from, self.contracts.market, JobMarket::refundCall { jobId: job_id }).await
    }

    /// A job's record.
    pub async fn job(&self, job_id: U256) -> Result<JobMarket::Job> {
        self.view(self.contracts.market, JobMarket::getJobCall { jobId: job_id }).await
    }

    /// The inputs a job was posted with.
    pub async fn inputs(&self, job_id: U256) -> Result<Vec<U256>> {
        self.view(self.contracts.market, JobMarket::getInputsCall { jobId: job_id }).await
    }

    /// The outputs a settled job was proved with.
    pub async fn outputs(&self, job_id: U256) -> Result<Vec<U256>> {
        self.view(self.contracts.market, JobMarket::getOutputsCall { jobId: job_id }).await
    }

    /// The binding element the contract computes for (`job_id`, `prover`).
    pub async fn binding_on_chain(&self, job_id: U256, prover: Address) -> Result<U256> {
        self.view(self.contracts.market, JobMarket::bindingOfCall { jobId: job_id, prover }).await
    }

    /// `JobPosted` events in blocks `from..=to` (latest when `None`).
    pub async fn posted_jobs(&self, from: u64, to: Option<u64>) -> Result<Vec<PostedJob>> {
        let logs = self.chain.logs(self.contracts.market, from, to).await?;
        Ok(logs
            .into_iter()
            .filter(|l| l.log.topics().first() == Some(&JobMarket::JobPosted::SIGNATURE_HASH))
            .filter_map(|l| {
                let e = JobMarket::JobPosted::decode_log_data(&l.log.data).ok()?;
                Some(PostedJob {
                    job_id: e.jobId,
                    model_id: e.modelId,
                    poster: e.poster,
                    bounty: e.bounty,
                    deadline: e.deadline,
                    verifier: e.verifier,
                    verifier_code_hash: e.verifierCodeHash,
                    inputs: e.inputs,
                    block: l.block,
                })
            })
            .collect())
    }
}

/// Replaces raw revert data with the name and arguments of the contracts'
/// custom error it encodes.
pub fn decode_revert(e: VerifierError) -> VerifierError {
    match e {
        VerifierError::Reverted { data, gas_used, reason } => {
            let reason = if let Ok(x) = JobMarket::JobMarketErrors::abi_decode(&data) {
                format!("JobMarket.{x:?}")
            } else if let Ok(x) = ModelRegistry::ModelRegistryErrors::abi_decode(&data) {
                format!("ModelRegistry.{x:?}")
            } else if let Ok(x) = RewardToken::RewardTokenErrors::abi_decode(&data) {
                format!("RewardToken.{x:?}")
            } else {
                reason
            };
            VerifierError::Reverted { reason, data, gas_used }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JobStatus follows the enum in JobMarket.sol (the ABI only says uint8).
    #[test]
    fn job_status_is_the_solidity_enum_in_order() {
        let src = include_str!("../../contracts/src/JobMarket.sol");
        let at = src.find("enum Status {").expect("JobMarket.sol declares enum Status");
        let body = &src[at + "enum Status {".len()..];
        let names: Vec<&str> = body[..body.find('}').unwrap()].split(',').map(str::trim).collect();
        let ours = ["None", "Open", "Settled", "Refunded"];
        assert_eq!(names, ours);
        for (i, name) in ours.iter().enumerate() {
            let s = JobStatus::from(i as u8);
            assert_eq!(format!("{s:?}"), *name);
        }
        assert_eq!(JobStatus::from(4u8), JobStatus::Unknown(4));
        assert!(!RewardToken::BYTECODE.is_empty() && !JobMarket::DEPLOYED_BYTECODE.is_empty());
    }
}
