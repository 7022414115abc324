//! A local anvil node (the npm package `@foundry-rs/anvil`, pinned in
//! `contracts/package.json`), for the demo's `--anvil` mode and the chain tests
//! (`zkinfer-testkit`'s `anvil::start_for_tests`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Result, VerifierError};

/// A running anvil on a loopback port, killed when dropped.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `npm ci` in `contracts_dir` puts the anvil binary.
pub fn anvil_binary(contracts_dir: &Path) -> PathBuf {
    contracts_dir.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

impl Anvil {
    /// Starts `bin` on a free loopback port and waits (10 s at most) until it listens.
    /// Its accounts are [`crate::chain::DEV_KEYS`] (anvil's default mnemonic).
    pub fn start(bin: &Path) -> Result<Anvil> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| VerifierError::Chain(format!("finding a free port: {e}")))?
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| VerifierError::Chain(format!("starting {}: {e}", bin.display())))?;
        let anvil = Anvil { child, url: format!("http://127.0.0.1:{port}") };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(anvil);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(VerifierError::Chain(format!("anvil did not listen on port {port} within 10 s")))
    }
}
