//! The collector's process-wide settings, one function for both processes that run passes:
//! `pochta serve` (the background collector) and `pochta collect …` (the command line).
//!
//! Implementation notes:
//! - Both must import under the same rules, or a hostile provider is harmless to one and
//!   not to the other: large body FETCH literals and POP3 RETR answers are spooled to
//!   `data_dir/tmp` while they arrive, every message held until it is stored draws on the
//!   `limits.message_memory` budget, and nothing announced or sent larger than
//!   `limits.max_message_size` is imported (`pochta_collector::ImportLimits`; the rules are
//!   in `crates/collector/src/sync.rs`, "Budgets"). `pochta collect run` used to skip this
//!   and held every literal in memory, up to 512 MiB.
//! - Under `pochta serve` the budget is the server's own (shared with SMTP and IMAP); the
//!   command line gets one of the same size for itself.

use crate::config::Config;

/// Sets the collector's budgets, spool directory and OAuth endpoints for this process, and
/// makes sure the spool directory exists. Call once, before the first pass.
pub fn configure(config: &Config, budget: pochta_net::MessageBudget) -> std::io::Result<()> {
    pochta_collector::oauth::configure(config.collector_web.clone(), config.dns.resolver());
    pochta_collector::set_message_budget(budget);
    let spool = config.data_dir.join("tmp");
    std::fs::create_dir_all(&spool)?;
    pochta_collector::set_import_limits(pochta_collector::ImportLimits {
        spool_dir: Some(spool),
        max_message: Some(config.limits.max_message_size),
    });
    Ok(())
}
