//! Graceful shutdown: one signal fanned out to every task, and a way to wait for them.
//!
//! Implementation notes:
//! - The signal is a `watch` channel: late subscribers still see it (a broadcast would be
//!   missed by a task that subscribes after it was sent), and checking it is cheap.
//! - Completion is tracked as in mini-redis: every listener and session holds a [`Tracker`]
//!   (an `mpsc::Sender` clone); when the last one is dropped the receiver sees `None`. Drop
//!   does the bookkeeping, so a session that panics or returns early is still counted out.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// The receiving side of the shutdown signal; clone freely.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has begun (at once if it already has). Cancel-safe, so it can sit
    /// in a `select!` next to a read.
    pub async fn wait(&mut self) {
        // An error means the controller is gone, which also means: stop.
        let _ = self.rx.wait_for(|&v| v).await;
    }
}

/// Held by every task the server must wait for; dropping it marks the task finished.
#[derive(Debug, Clone)]
pub struct Tracker {
    _tx: mpsc::Sender<()>,
}

/// Owns the shutdown signal and waits for tracked tasks to finish.
#[derive(Debug)]
pub struct ShutdownController {
    signal: watch::Sender<bool>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

impl Default for ShutdownController {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownController {
    pub fn new() -> Self {
        let (signal, _) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel(1);
        ShutdownController {
            signal,
            done_tx,
            done_rx,
        }
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.signal.subscribe(),
        }
    }

    pub fn tracker(&self) -> Tracker {
        Tracker {
            _tx: self.done_tx.clone(),
        }
    }

    /// Signals shutdown without waiting.
    pub fn trigger(&self) {
        self.signal.send_replace(true);
    }

    /// Signals shutdown and waits up to `bound` for every tracked task to finish. Returns
    /// `true` if all finished in time; the caller then exits, dropping stragglers.
    pub async fn drain(self, bound: Duration) -> bool {
        self.trigger();
        let ShutdownController {
            signal,
            done_tx,
            mut done_rx,
        } = self;
        drop(done_tx);
        let finished = tokio::time::timeout(bound, done_rx.recv()).await.is_ok();
        drop(signal);
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_trackers() {
        let ctl = ShutdownController::new();
        let mut sd = ctl.subscribe();
        let tracker = ctl.tracker();
        let task = tokio::spawn(async move {
            sd.wait().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(tracker);
        });
        assert!(ctl.drain(Duration::from_secs(5)).await);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn drain_gives_up_after_bound() {
        let ctl = ShutdownController::new();
        let stuck = ctl.tracker();
        assert!(!ctl.drain(Duration::from_millis(50)).await);
        drop(stuck);
    }

    #[tokio::test]
    async fn late_subscriber_sees_signal() {
        let ctl = ShutdownController::new();
        ctl.trigger();
        let mut sd = ctl.subscribe();
        assert!(sd.is_triggered());
        sd.wait().await;
    }
}
