//! Deploys a verifier contract in the embedded EVM (revm, the chain `zkinfer evm
//! verify` uses) and measures a verification call, for comparing verifiers of
//! other tools with ours on the same EVM (benches/compare).
//!
//!     evm-gas CREATION_BYTECODE_HEX_FILE CALLDATA_FILE
//!
//! Prints JSON: `deploy_gas`, `runtime_bytes`, `calldata_bytes`, `verify_gas`
//! (transaction total: intrinsic + calldata + execution) and `accepted`; then
//! the same call with one byte of the proof part flipped, which must be
//! rejected (`tampered_rejected`), else the figures mean nothing.

use std::process::ExitCode;

use zkinfer_verifier::chain::Chain;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: evm-gas CREATION_BYTECODE_HEX_FILE CALLDATA_FILE");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(code_file: &str, calldata_file: &str) -> Result<serde_json::Value, String> {
    let hex_text = std::fs::read_to_string(code_file).map_err(|e| format!("{code_file}: {e}"))?;
    let code =
        zkinfer_circuits::encoding::hex_decode(&hex_text, "bytecode").map_err(|e| format!("{code_file}: {e}"))?;
    let calldata = std::fs::read(calldata_file).map_err(|e| format!("{calldata_file}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let chain = Chain::embedded();
        let me = chain.accounts()[0];
        let receipt = chain.deploy(me, code).await.map_err(|e| format!("deployment: {e}"))?;
        let addr = receipt.contract.ok_or("deployment created no contract")?;
        let runtime = chain.code(addr).await.map_err(|e| e.to_string())?.len();
        let (accepted, verify_gas) = match chain.call(me, addr, calldata.clone()).await {
            Ok((out, gas)) => (returned_true(&out), gas),
            Err(e) => return Err(format!("the verifier rejected the proof: {e}")),
        };
        // Flip a byte near the end (the proof part, whatever the ABI layout).
        let mut tampered = calldata.clone();
        let i = tampered.len() - 100;
        tampered[i] ^= 1;
        let tampered_rejected = match chain.call(me, addr, tampered).await {
            Ok((out, _)) => !returned_true(&out),
            Err(_) => true,
        };
        Ok(serde_json::json!({
            "deploy_gas": receipt.gas_used,
            "runtime_bytes": runtime,
            "calldata_bytes": calldata.len(),
            "verify_gas": verify_gas,
            "accepted": accepted,
            "tampered_rejected": tampered_rejected,
        }))
    })
}

/// A verifier returns nothing (ours) or an ABI `true` (a `bool` function).
fn returned_true(out: &[u8]) -> bool {
    out.is_empty() || (out.len() == 32 && out[31] == 1 && out[..31].iter().all(|&b| b == 0))
}
