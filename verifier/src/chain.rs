//! Chain access behind one type: an embedded EVM (revm, in-process, the
//! default) or any EVM JSON-RPC endpoint (alloy; tested against anvil).
//!
//! Both speak in raw calldata; [`crate::market`] encodes the contracts' ABI on
//! top. A transaction is first simulated (`eth_call` semantics): a revert comes
//! back as [`VerifierError::Reverted`] with the revert data and is not sent, so
//! a rejected proof moves no funds and costs the sender nothing on either chain.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, Log, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, TxEnv};
use revm::database::InMemoryDB;
use revm::primitives::TxKind;
use revm::state::AccountInfo;
use revm::{Context, Database, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm};

use crate::encoding::to_hex;
use crate::error::{Result, VerifierError};

/// Anvil's (and Hardhat's) well-known development keys #0..#4: the embedded
/// chain funds their addresses, so the same commands work on both. Public
/// test keys: never use them on a real network.
pub const DEV_KEYS: [&str; 5] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d4b13f8733639f19c30a34926a",
];

/// Chain id of the embedded chain (anvil's default).
pub const EMBEDDED_CHAIN_ID: u64 = 31337;

/// How long to wait for a sent transaction's receipt.
pub const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Gas limit of each transaction on the embedded chain.
pub const TX_GAS_LIMIT: u64 = 16_000_000;

/// A transaction that was included.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// Transaction hash (the embedded chain numbers its transactions instead).
    pub tx_hash: B256,
    /// Block it was included in.
    pub block: u64,
    /// Total gas used (intrinsic + calldata + execution).
    pub gas_used: u64,
    /// Address created by a deployment.
    pub contract: Option<Address>,
    /// Events emitted.
    pub logs: Vec<Log>,
}

/// An event with the block it was emitted in.
#[derive(Clone, Debug)]
pub struct ChainLog {
    /// Block number.
    pub block: u64,
    /// The log.
    pub log: Log,
}

/// An EVM chain.
pub enum Chain {
    /// revm in this process.
    Embedded(Box<Mutex<EmbeddedChain>>),
    /// A JSON-RPC endpoint.
    Rpc(RpcChain),
}

impl Chain {
    /// A fresh embedded chain with the [`DEV_KEYS`] accounts funded.
    pub fn embedded() -> Chain {
        Chain::Embedded(Box::new(Mutex::new(EmbeddedChain::new())))
    }

    /// A JSON-RPC chain at `url` that signs with `keys` (hex private keys).
    pub fn rpc(url: &str, keys: &[String]) -> Result<Chain> {
        Ok(Chain::Rpc(RpcChain::new(url, keys)?))
    }

    /// A short description (`embedded EVM (revm)` or the URL).
    pub fn describe(&self) -> String {
        match self {
            Chain::Embedded(_) => format!("embedded EVM (revm, chain id {EMBEDDED_CHAIN_ID})"),
            Chain::Rpc(r) => format!("JSON-RPC {} (chain id {})", r.url, r.chain_id),
        }
    }

    /// The addresses this chain can send from, in key order.
    pub fn accounts(&self) -> Vec<Address> {
        match self {
            Chain::Embedded(e) => lock(e).accounts.clone(),
            Chain::Rpc(r) => r.accounts.clone(),
        }
    }

    /// Deploys `code` (creation bytecode with constructor arguments appended).
    pub async fn deploy(&self, from: Address, code: Vec<u8>) -> Result<Receipt> {
        let r = self.transact(from, TxKind::Create, code).await?;
        if r.contract.is_none() {
            return Err(VerifierError::Chain("deployment created no contract".into()));
        }
        Ok(r)
    }

    /// Sends a call transaction; a revert is an error and nothing is sent.
    pub async fn send(&self, from: Address, to: Address, data: Vec<u8>) -> Result<Receipt> {
        self.transact(from, TxKind::Call(to), data).await
    }

    /// An included transaction's EIP-2718 encoding, signed by its sender, by hash (the
    /// embedded chain's last 4096; `None` on a JSON-RPC chain, which serves it itself).
    pub fn raw_transaction(&self, hash: B256) -> Option<Vec<u8>> {
        match self {
            Chain::Embedded(e) => lock(e).raw_transaction(hash),
            _ => None,
        }
    }

    /// A read-only call (`eth_call`) at the latest block: its return data, or
    /// [`VerifierError::Reverted`] with the revert data, and the gas it used.
    pub async fn call(&self, from: Address, to: Address, data: Vec<u8>) -> Result<(Vec<u8>, u64)> {
        match self {
            Chain::Embedded(e) => lock(e).call(from, TxKind::Call(to), data),
            Chain::Rpc(r) => {
                let tx = r.request(from, TxKind::Call(to), data);
                let out = r.provider.call(tx.clone()).await.map_err(rpc_error)?;
                let gas = r.provider.estimate_gas(tx).await.map_err(rpc_error)?;
                Ok((out.to_vec(), gas))
            }
        }
    }

    async fn transact(&self, from: Address, kind: TxKind, data: Vec<u8>) -> Result<Receipt> {
        match self {
            Chain::Embedded(e) => lock(e).transact(from, kind, data),
            Chain::Rpc(r) => r.transact(from, kind, data).await,
        }
    }

    /// Events emitted by `address` in blocks `from..=to` (to = latest when `None`).
    pub async fn logs(&self, address: Address, from: u64, to: Option<u64>) -> Result<Vec<ChainLog>> {
        match self {
            Chain::Embedded(e) => {
                let e = lock(e);
                let to = to.unwrap_or(e.number);
                Ok(e.logs
                    .iter()
                    .filter(|l| l.log.address == address && (from..=to).contains(&l.block))
                    .cloned()
                    .collect())
            }
            Chain::Rpc(r) => {
                let mut filter = Filter::new().address(address).from_block(from);
                if let Some(to) = to {
                    filter = filter.to_block(to);
                }
                let logs = r.provider.get_logs(&filter).await.map_err(rpc_error)?;
                Ok(logs
                    .into_iter()
                    .map(|l| ChainLog { block: l.block_number.unwrap_or_default(), log: l.inner })
                    .collect())
            }
        }
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64> {
        match self {
            // The latest mined block (`number` is the one the next transaction goes into).
            Chain::Embedded(e) => Ok(lock(e).number - 1),
            Chain::Rpc(r) => r.provider.get_block_number().await.map_err(rpc_error),
        }
    }

    /// The hash of block `number` (`None` on the embedded chain, which has no
    /// block hashes and never reorganizes, or when the block does not exist).
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>> {
        match self {
            Chain::Embedded(_) => Ok(None),
            Chain::Rpc(r) => Ok(r
                .provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
                .await
                .map_err(rpc_error)?
                .map(|b| b.header.hash)),
        }
    }

    /// The timestamp the next transaction will see (embedded), or the latest
    /// block's (RPC).
    pub async fn timestamp(&self) -> Result<u64> {
        match self {
            Chain::Embedded(e) => Ok(lock(e).timestamp),
            Chain::Rpc(r) => {
                let block = r
                    .provider
                    .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                    .await
                    .map_err(rpc_error)?
                    .ok_or_else(|| VerifierError::Chain("no latest block".into()))?;
                Ok(block.header.timestamp)
            }
        }
    }

    /// Moves the chain's clock forward by `secs` and mines a block (development
    /// chains only: `evm_increaseTime` + `evm_mine` on anvil).
    pub async fn advance_time(&self, secs: u64) -> Result<()> {
        match self {
            Chain::Embedded(e) => {
                let mut e = lock(e);
                e.timestamp += secs;
                e.number += 1;
                Ok(())
            }
            Chain::Rpc(r) => {
                let _: serde_json::Value =
                    r.provider.raw_request("evm_increaseTime".into(), (secs,)).await.map_err(rpc_error)?;
                let _: serde_json::Value = r.provider.raw_request("evm_mine".into(), ()).await.map_err(rpc_error)?;
                Ok(())
            }
        }
    }

    /// The code at `address` (empty for an account without code).
    pub async fn code(&self, address: Address) -> Result<Vec<u8>> {
        match self {
            Chain::Embedded(e) => lock(e).code(address),
            Chain::Rpc(r) => Ok(r.provider.get_code_at(address).await.map_err(rpc_error)?.to_vec()),
        }
    }

    /// Storage slot `slot` of `address` at the latest block.
    pub async fn storage(&self, address: Address, slot: U256) -> Result<U256> {
        match self {
            Chain::Embedded(e) => lock(e).db.storage(address, slot).map_err(|e| VerifierError::Chain(format!("{e:?}"))),
            Chain::Rpc(r) => r.provider.get_storage_at(address, slot).await.map_err(rpc_error),
        }
    }

    /// Replaces the code at `address` (development chains only:
    /// `anvil_setCode` on anvil). Tests use it to make a contract lose or
    /// change its code, which a real chain allows only in corner cases
    /// (SELFDESTRUCT in the creating transaction, chains before EIP-6780).
    pub async fn dev_set_code(&self, address: Address, code: Vec<u8>) -> Result<()> {
        match self {
            Chain::Embedded(e) => lock(e).set_code(address, code),
            Chain::Rpc(r) => {
                let code = to_hex(code);
                let _: serde_json::Value =
                    r.provider.raw_request("anvil_setCode".into(), (address, code)).await.map_err(rpc_error)?;
                Ok(())
            }
        }
    }

    /// Writes storage slot `slot` of `address` (development chains only:
    /// `anvil_setStorageAt` on anvil).
    pub async fn dev_set_storage(&self, address: Address, slot: U256, value: U256) -> Result<()> {
        match self {
            Chain::Embedded(e) => lock(e)
                .db
                .insert_account_storage(address, slot, value)
                .map_err(|e| VerifierError::Chain(format!("{e:?}"))),
            Chain::Rpc(r) => {
                let word = |x: U256| B256::from(x.to_be_bytes::<32>());
                let _: serde_json::Value = r
                    .provider
                    .raw_request("anvil_setStorageAt".into(), (address, word(slot), word(value)))
                    .await
                    .map_err(rpc_error)?;
                Ok(())
            }
        }
    }
}

fn lock(e: &Mutex<EmbeddedChain>) -> std::sync::MutexGuard<'_, EmbeddedChain> {
    // A panic inside revm while the lock was held leaves consistent committed state.
    e.lock().unwrap_or_else(|p| p.into_inner())
}

/// The embedded chain: an in-memory state that each transaction (its own
/// block) runs on in a fresh revm instance. It holds no revm context between
/// calls, so it can be sent to other threads.
pub struct EmbeddedChain {
    db: InMemoryDB,
    number: u64,
    timestamp: u64,
    tx_count: u64,
    logs: Vec<ChainLog>,
    accounts: Vec<Address>,
    /// The dev keys, to sign what their accounts send.
    keys: Vec<PrivateKeySigner>,
    /// Every included transaction, EIP-2718 encoded, by hash (newest last; the last
    /// [`KEPT_TRANSACTIONS`] only).
    raw: std::collections::VecDeque<(B256, Vec<u8>)>,
}

/// How many encoded transactions the embedded chain keeps for [`EmbeddedChain::raw_transaction`].
const KEPT_TRANSACTIONS: usize = 4096;

impl Default for EmbeddedChain {
    fn default() -> Self {
        Self::new()
    }
}

impl EmbeddedChain {
    /// A fresh chain at block 1, clock = now, with the [`DEV_KEYS`] accounts
    /// holding 10,000 ETH each.
    pub fn new() -> EmbeddedChain {
        let mut db = InMemoryDB::default();
        let keys: Vec<PrivateKeySigner> = DEV_KEYS.iter().map(|k| signer(k).expect("dev key")).collect();
        let accounts: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        for a in &accounts {
            db.insert_account_info(
                *a,
                AccountInfo {
                    balance: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)),
                    ..Default::default()
                },
            );
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1_700_000_000);
        EmbeddedChain {
            db,
            number: 1,
            timestamp: now,
            tx_count: 0,
            logs: Vec::new(),
            accounts,
            keys,
            raw: Default::default(),
        }
    }

    /// A revm instance over the state, in the current block.
    fn evm(&mut self) -> MainnetEvm<revm::handler::MainnetContext<&mut InMemoryDB>> {
        let block = BlockEnv {
            number: U256::from(self.number),
            timestamp: U256::from(self.timestamp),
            gas_limit: 30_000_000,
            ..Default::default()
        };
        Context::mainnet()
            .with_db(&mut self.db)
            .with_block(block)
            .modify_cfg_chained(|c| {
                c.chain_id = EMBEDDED_CHAIN_ID;
                // Mainnet rules, EIP-170's 24,576-byte code limit included.
                c.limit_contract_code_size = Some(crate::evm::MAX_RUNTIME_SIZE);
            })
            .build_mainnet()
    }

    fn tx(&mut self, from: Address, kind: TxKind, data: Vec<u8>) -> Result<TxEnv> {
        let nonce =
            self.db.basic(from).map_err(|e| VerifierError::Chain(format!("{e:?}")))?.map(|a| a.nonce).unwrap_or(0);
        Ok(TxEnv {
            caller: from,
            kind,
            data: data.into(),
            nonce,
            gas_limit: TX_GAS_LIMIT,
            chain_id: Some(EMBEDDED_CHAIN_ID),
            ..Default::default()
        })
    }

    fn call(&mut self, from: Address, kind: TxKind, data: Vec<u8>) -> Result<(Vec<u8>, u64)> {
        let tx = self.tx(from, kind, data)?;
        let out = self.evm().transact(tx).map_err(|e| VerifierError::Chain(format!("{e:?}")))?;
        match out.result {
            ExecutionResult::Success { output, gas_used, .. } => Ok((output.into_data().to_vec(), gas_used)),
            ExecutionResult::Revert { output, gas_used } => Err(reverted(output.to_vec(), gas_used)),
            ExecutionResult::Halt { reason, gas_used } => {
                Err(VerifierError::Reverted { reason: format!("halted: {reason:?}"), data: Vec::new(), gas_used })
            }
        }
    }

    fn transact(&mut self, from: Address, kind: TxKind, data: Vec<u8>) -> Result<Receipt> {
        // Simulate first: a failing transaction is reported, not included.
        self.call(from, kind, data.clone())?;
        let tx = self.tx(from, kind, data)?;
        let (hash, raw) = self.sign(&tx)?;
        let result = self.evm().transact_commit(tx).map_err(|e| VerifierError::Chain(format!("{e:?}")))?;
        self.tx_count += 1;
        if self.raw.len() == KEPT_TRANSACTIONS {
            self.raw.pop_front();
        }
        self.raw.push_back((hash, raw));
        let block = self.number;
        self.number += 1;
        match result {
            ExecutionResult::Success { output, gas_used, logs, .. } => {
                let contract = match output {
                    Output::Create(_, addr) => addr,
                    Output::Call(_) => None,
                };
                self.logs.extend(logs.iter().map(|l| ChainLog { block, log: l.clone() }));
                Ok(Receipt { tx_hash: hash, block, gas_used, contract, logs })
            }
            ExecutionResult::Revert { output, gas_used } => Err(reverted(output.to_vec(), gas_used)),
            ExecutionResult::Halt { reason, gas_used } => {
                Err(VerifierError::Reverted { reason: format!("halted: {reason:?}"), data: Vec::new(), gas_used })
            }
        }
    }

    /// The transaction `tx` as its sender signs it (EIP-155 legacy, gas price 0 as the
    /// embedded chain charges none): its hash (keccak256 of the encoding) and encoding.
    fn sign(&self, tx: &TxEnv) -> Result<(B256, Vec<u8>)> {
        use alloy::consensus::{SignableTransaction, TxEnvelope, TxLegacy};
        use alloy::eips::eip2718::Encodable2718;
        use alloy::network::TxSignerSync;
        let key = self.keys.iter().find(|k| k.address() == tx.caller).ok_or_else(|| {
            VerifierError::Chain(format!("the embedded chain holds no key for the sender {}", tx.caller))
        })?;
        let mut legacy = TxLegacy {
            chain_id: tx.chain_id,
            nonce: tx.nonce,
            gas_price: tx.gas_price,
            gas_limit: tx.gas_limit,
            to: tx.kind,
            value: tx.value,
            input: tx.data.clone(),
        };
        let sig = key.sign_transaction_sync(&mut legacy).map_err(|e| VerifierError::Chain(format!("signing: {e}")))?;
        let envelope = TxEnvelope::from(legacy.into_signed(sig));
        Ok((*envelope.tx_hash(), envelope.encoded_2718()))
    }

    /// An included transaction's EIP-2718 encoding (signed by its sender), by hash.
    pub fn raw_transaction(&self, hash: B256) -> Option<Vec<u8>> {
        self.raw.iter().rev().find(|(h, _)| *h == hash).map(|(_, r)| r.clone())
    }

    fn set_code(&mut self, address: Address, code: Vec<u8>) -> Result<()> {
        let old = self.db.basic(address).map_err(|e| VerifierError::Chain(format!("{e:?}")))?.unwrap_or_default();
        let code = revm::bytecode::Bytecode::new_legacy(code.into());
        let info = AccountInfo { code_hash: code.hash_slow(), code: Some(code), ..old };
        self.db.insert_account_info(address, info);
        Ok(())
    }

    fn code(&mut self, address: Address) -> Result<Vec<u8>> {
        let db = &mut self.db;
        let Some(info) = db.basic(address).map_err(|e| VerifierError::Chain(format!("{e:?}")))? else {
            return Ok(Vec::new());
        };
        let code = match info.code {
            Some(c) => c,
            None => db.code_by_hash(info.code_hash).map_err(|e| VerifierError::Chain(format!("{e:?}")))?,
        };
        Ok(code.original_bytes().to_vec())
    }
}

/// A JSON-RPC chain with local signing keys.
pub struct RpcChain {
    url: String,
    chain_id: u64,
    provider: DynProvider,
    accounts: Vec<Address>,
}

impl RpcChain {
    fn new(url: &str, keys: &[String]) -> Result<RpcChain> {
        if keys.is_empty() {
            return Err(VerifierError::Invalid("a JSON-RPC chain needs at least one signing key".into()));
        }
        let parsed: alloy::transports::http::reqwest::Url =
            url.parse().map_err(|e| VerifierError::Invalid(format!("chain URL `{url}`: {e}")))?;
        let mut signers = keys.iter().enumerate().map(|(i, k)| {
            signer(k).map_err(|e| VerifierError::Invalid(format!("signing key #{} ({} given): {e}", i + 1, keys.len())))
        });
        let first = signers.next().expect("non-empty")?;
        let mut accounts = vec![first.address()];
        let mut wallet = EthereumWallet::from(first);
        for s in signers {
            let s = s?;
            accounts.push(s.address());
            wallet.register_signer(s);
        }
        // Nonces are read from the chain for every transaction: a cached nonce
        // stays ahead of the chain after a reorganization drops our transactions,
        // and every later transaction then waits forever behind the gap.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(wallet)
            .connect_http(parsed)
            .erased();
        Ok(RpcChain { url: url.to_string(), chain_id: 0, provider, accounts })
    }

    /// Asks the endpoint for its chain id (also checks that it answers).
    pub async fn connect(url: &str, keys: &[String]) -> Result<Chain> {
        let mut c = RpcChain::new(url, keys)?;
        c.chain_id = c.provider.get_chain_id().await.map_err(|e| VerifierError::Chain(format!("{url}: {e}")))?;
        Ok(Chain::Rpc(c))
    }

    fn request(&self, from: Address, kind: TxKind, data: Vec<u8>) -> TransactionRequest {
        let tx = TransactionRequest::default().with_from(from).with_input(Bytes::from(data));
        match kind {
            TxKind::Create => tx.into_create(),
            TxKind::Call(to) => tx.with_to(to),
        }
    }

    async fn transact(&self, from: Address, kind: TxKind, data: Vec<u8>) -> Result<Receipt> {
        let tx = self.request(from, kind, data);
        // Simulate: a revert is reported with its data and nothing is sent.
        self.provider.call(tx.clone()).await.map_err(rpc_error)?;
        let receipt = self
            .provider
            .send_transaction(tx)
            .await
            .map_err(rpc_error)?
            // A transaction dropped by a reorganization never gets a receipt.
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| VerifierError::Chain(e.to_string()))?;
        if !receipt.status() {
            return Err(VerifierError::Reverted {
                reason: "the transaction reverted when mined".into(),
                data: Vec::new(),
                gas_used: receipt.gas_used,
            });
        }
        Ok(Receipt {
            tx_hash: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            contract: receipt.contract_address,
            logs: receipt.inner.logs().iter().map(|l| l.inner.clone()).collect(),
        })
    }
}

/// Parses a hex private key.
pub fn signer(key: &str) -> Result<PrivateKeySigner> {
    key.trim().parse::<PrivateKeySigner>().map_err(|_| VerifierError::Invalid("not a 32-byte hex private key".into()))
}

fn reverted(data: Vec<u8>, gas_used: u64) -> VerifierError {
    VerifierError::Reverted { reason: to_hex(&data), data, gas_used }
}

fn rpc_error(e: alloy::transports::TransportError) -> VerifierError {
    if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
        return reverted(data.to_vec(), 0);
    }
    // Reverts without data, and halts (out of gas, invalid opcode) reported as "EVM error ...".
    if let Some(p) = e.as_error_resp()
        && (p.message.contains("revert") || p.message.starts_with("EVM error"))
    {
        return VerifierError::Reverted { reason: p.message.to_string(), data: Vec::new(), gas_used: 0 };
    }
    VerifierError::Chain(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded chain's transaction hashes are real: keccak256 of the transaction as its
    /// sender signed it (EIP-155), which decodes and recovers to the sender.
    #[tokio::test]
    async fn embedded_transaction_hashes_are_real() {
        use alloy::consensus::{SignableTransaction, Transaction, TxEnvelope};
        use alloy::eips::eip2718::Decodable2718;
        let chain = Chain::embedded();
        let accounts = chain.accounts();
        // Runtime code `STOP`, deployed by a tiny init code; then a call to it.
        let init = hex::decode("600160 0c60003960016000f300".replace(' ', "")).unwrap();
        let deployed = chain.deploy(accounts[1], init).await.unwrap();
        let called = chain.send(accounts[2], deployed.contract.unwrap(), vec![1, 2, 3]).await.unwrap();
        for (r, from, nonce) in [(&deployed, accounts[1], 0), (&called, accounts[2], 0)] {
            let raw = chain.raw_transaction(r.tx_hash).expect("kept");
            assert_eq!(alloy::primitives::keccak256(&raw), r.tx_hash);
            let tx = TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
            let TxEnvelope::Legacy(signed) = &tx else { panic!("not a legacy transaction: {tx:?}") };
            let signer = signed.signature().recover_address_from_prehash(&signed.tx().signature_hash()).unwrap();
            assert_eq!(signer, from);
            assert_eq!((tx.chain_id(), tx.nonce()), (Some(EMBEDDED_CHAIN_ID), nonce));
            assert!(r.tx_hash[..24].iter().any(|&b| b != 0), "{}", r.tx_hash);
        }
        assert_eq!(called.tx_hash, chain.raw_transaction(called.tx_hash).map(alloy::primitives::keccak256).unwrap());
        assert_ne!(deployed.tx_hash, called.tx_hash);
        assert!(chain.raw_transaction(B256::repeat_byte(1)).is_none());
    }
}
