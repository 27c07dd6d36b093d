//! Which service answers on which listener — the one place to swap in real protocol crates.
//!
//! Implementation notes:
//! - IMAP is served by `pochta-imap`, POP3 by `pochta-pop3`. Until `pochta-smtp` lands, SMTP
//!   is served by [`crate::placeholder::Placeholder`]: the right greeting,
//!   STARTTLS/STLS, a clean goodbye, and the protocol's "not implemented" answer to
//!   everything else.
//! - Replacing a placeholder is one line: construct the real service in its `let` below. Each
//!   service is an `Arc` shared by the protocol's plain and implicit-TLS listeners.

use std::sync::Arc;

use pochta_auth::{AuthCache, Throttle};
use pochta_store_embedded::EmbeddedStore;

use pochta_imap::{ImapConfig, ImapService};
use pochta_pop3::{Pop3Config, Pop3Service};

use crate::config::{Config, Protocol};
use crate::placeholder::Placeholder;
use crate::serve::Runner;

/// What every service may need, built once by `serve`.
pub struct Ctx {
    pub config: Arc<Config>,
    pub store: EmbeddedStore,
    /// Shared by all protocols so guessing cannot be spread across them.
    pub throttle: Arc<Throttle>,
    /// Recently verified passwords, shared by all protocols (see `pochta_auth::cache`).
    pub auth_cache: Arc<AuthCache>,
}

/// Starts one service per configured listener.
pub fn wire(ctx: &Ctx, run: &mut Runner) {
    let host = ctx.config.hostname.as_str();
    let imap = Arc::new(ImapService::new(
        Arc::new(ctx.store.clone()),
        imap_config(&ctx.config),
        Arc::clone(&ctx.throttle),
        Arc::clone(&ctx.auth_cache),
    ));
    let pop3 = Arc::new(Pop3Service::new(
        Arc::new(ctx.store.clone()),
        pop3_config(&ctx.config),
        Arc::clone(&ctx.throttle),
        Arc::clone(&ctx.auth_cache),
    ));
    let smtp = Arc::new(Placeholder::smtp(host, ctx.config.limits.max_message_size));
    let submission = Arc::new(Placeholder::smtp(host, ctx.config.limits.max_message_size));

    run.serve(Protocol::Imap, Arc::clone(&imap));
    run.serve(Protocol::Imaps, imap);
    run.serve(Protocol::Pop3, Arc::clone(&pop3));
    run.serve(Protocol::Pop3s, pop3);
    run.serve(Protocol::Smtp, smtp);
    run.serve(Protocol::Submission, Arc::clone(&submission));
    run.serve(Protocol::Submissions, submission);
}

fn imap_config(config: &Config) -> ImapConfig {
    ImapConfig {
        hostname: config.hostname.clone(),
        plaintext: config.plaintext,
        max_message: config.limits.max_message_size,
        idle_timeout: config.limits.imap_idle_timeout,
        ..ImapConfig::default()
    }
}

fn pop3_config(config: &Config) -> Pop3Config {
    Pop3Config {
        hostname: config.hostname.clone(),
        plaintext: config.plaintext,
        mark_seen: config.pop3.mark_seen,
        ..Pop3Config::default()
    }
}
