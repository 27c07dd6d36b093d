//! A protocol service on a real listener, for the protocol crates' integration tests (feature
//! `testing`): 127.0.0.1 with a free port, a self-signed certificate for `localhost`, and its
//! own two-worker runtime; dropping it lets sessions say goodbye before the runtime goes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{Limiter, Listener, ListenerConfig, Service, ShutdownController, TlsAcceptor, TlsMode};

/// A running test listener.
pub struct TestListener {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
    shutdown: Option<ShutdownController>,
}

impl TestListener {
    /// Serve `service` (made inside the runtime, as some services start tasks) on a listener
    /// named `name`. `tls` chooses its TLS mode from an acceptor whose certificate and key are
    /// written into `dir` (`cert.pem`, `key.pem`).
    pub fn start<S: Service>(
        dir: &Path,
        name: &str,
        tls: impl FnOnce(TlsAcceptor) -> TlsMode,
        service: impl FnOnce() -> Arc<S>,
    ) -> TestListener {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (cert, key) = crate::generate_self_signed("localhost").expect("cert");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert).expect("write cert");
        std::fs::write(&key_path, key).expect("write key");
        let acceptor = crate::acceptor(&cert_path, &key_path).expect("acceptor");
        let cfg = ListenerConfig {
            name: name.into(),
            addrs: vec!["127.0.0.1:0".parse().expect("addr")],
            tls: tls(acceptor),
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
            max_per_ip: None,
            login_required: false,
            refusal: b"",
        };
        let listener = rt
            .block_on(Listener::bind(cfg, Limiter::new(1000, 1000)))
            .expect("bind");
        let addr = listener.local_addrs()[0];
        let shutdown = ShutdownController::new();
        let service = {
            let _entered = rt.enter();
            service()
        };
        rt.spawn(listener.run(service, shutdown.subscribe(), shutdown.tracker()));
        TestListener {
            addr,
            rt: Some(rt),
            shutdown: Some(shutdown),
        }
    }
}

impl Drop for TestListener {
    fn drop(&mut self) {
        // Let sessions say goodbye (they watch the shutdown signal) before the runtime goes:
        // dropping the runtime cancels tasks wherever they are.
        if let Some(rt) = self.rt.take() {
            if let Some(c) = self.shutdown.take() {
                rt.block_on(c.drain(Duration::from_secs(5)));
            }
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
