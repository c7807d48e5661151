//! A HighLevel sandbox on 127.0.0.1:0 for a test, stopped when the value is dropped.

use std::sync::{Arc, OnceLock};

use ghl_sandbox::{Sandbox, SandboxConfig, SandboxInfo, SigningKeys};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One signing key pair for the whole test binary: generating an RSA key per sandbox is slow.
pub fn keys() -> Arc<SigningKeys> {
    static KEYS: OnceLock<Arc<SigningKeys>> = OnceLock::new();
    KEYS.get_or_init(|| Arc::new(SigningKeys::generate().expect("signing keys"))).clone()
}

pub struct TestSandbox {
    pub info: SandboxInfo,
    shutdown: CancellationToken,
}

impl TestSandbox {
    /// A sandbox with `config`.
    pub async fn start(config: SandboxConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let shutdown = CancellationToken::new();
        let sandbox =
            Sandbox::start(config, listener, shutdown.clone()).await.expect("the sandbox starts");
        Self { info: sandbox.info, shutdown }
    }

    /// Cancelled when the sandbox is to stop (it stops on drop too).
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
