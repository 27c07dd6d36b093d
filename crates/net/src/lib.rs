//! Networking for every Pochta protocol: listeners, TLS (implicit and STARTTLS), connection
//! limits, idle timeouts and graceful shutdown.
//!
//! Implementation notes:
//! - The shape follows mini-redis: a [`Listener`] per protocol runs accept loops under a
//!   connection semaphore and spawns one task per connection, which calls the protocol's
//!   [`Service`]; a [`ShutdownController`] broadcasts shutdown and waits, within a bound, for
//!   every session to finish.
//! - Protocol code sees only [`Connection`] (a [`Stream`] that may be plain or TLS, addresses,
//!   the STARTTLS acceptor, the shutdown signal); it never touches sockets directly.
//! - How a session performs STARTTLS without acting on pipelined plaintext is described in
//!   [`stream`] and implemented by [`starttls_buffered`].
#![forbid(unsafe_code)]

pub mod budget;
pub mod client;
pub mod connect;
pub mod listener;
pub mod rate;
pub mod shutdown;
pub mod spool;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use budget::{MessageBudget, MessagePermit};
pub use listener::{
    Admission, BindError, Connection, IpSlot, Limiter, Listener, ListenerConfig, Service, TlsMode,
};
pub use rate::DataRate;
pub use shutdown::{Shutdown, ShutdownController, Tracker};
pub use spool::{LITERAL_SPOOL_THRESHOLD, LiteralSpool};
pub use stream::{Stream, blocking, reset_output, starttls_buffered, with_timeout};
pub use tls::{
    ReloadableCert, TlsError, acceptor, ensure_self_signed, generate_self_signed, server_config,
};
pub use tokio_rustls::TlsAcceptor;
