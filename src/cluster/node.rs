//! Failure switches shared by all tasks of one node: a kill switch (every task ends at once, no
//! goodbye), a pause gate (everything freezes mid-step, like SIGSTOP or `docker pause`) and an
//! isolation flag (peer and controller traffic fails, clients still connect, like a network
//! partition). Each node owns its own; nothing here is shared across nodes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The switches and the task set of one node.
#[derive(Clone, Debug)]
pub struct NodeControl {
    cancel: CancellationToken,
    paused: watch::Sender<bool>,
    isolated: Arc<AtomicBool>,
    tasks: TaskTracker,
}

impl Default for NodeControl {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeControl {
    /// A running, reachable node with no tasks yet.
    pub fn new() -> Self {
        Self {
            cancel: CancellationToken::new(),
            paused: watch::channel(false).0,
            isolated: Arc::new(AtomicBool::new(false)),
            tasks: TaskTracker::new(),
        }
    }

    /// Spawns a task that is dropped mid-flight when the node is killed.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Ends every task of the node now.
    pub fn kill(&self) {
        self.cancel.cancel();
        self.tasks.close();
    }

    /// Waits until every task has ended (after [`kill`](Self::kill)).
    pub(crate) async fn wait_stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await
    }

    /// Freezes (true) or thaws (false) the node.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Waits while the node is paused; every task calls this before each step.
    pub(crate) async fn gate(&self) {
        let mut rx = self.paused.subscribe();
        // wait_for only fails if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|paused| !*paused).await;
    }

    /// Cuts (true) or restores (false) the node's links to its peers and the controller.
    pub(crate) fn set_isolated(&self, isolated: bool) {
        self.isolated.store(isolated, Ordering::SeqCst);
    }

    /// True while cut off from peers.
    pub(crate) fn is_isolated(&self) -> bool {
        self.isolated.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn kill_ends_tasks_and_the_gate_holds_while_paused() {
        let node = NodeControl::new();
        node.set_paused(true);
        let gated = tokio::time::timeout(Duration::from_millis(50), node.gate()).await;
        assert!(gated.is_err(), "a paused node must not pass its gate");
        node.set_paused(false);
        node.gate().await;
        node.spawn(std::future::pending());
        node.kill();
        tokio::time::timeout(Duration::from_secs(1), node.wait_stopped())
            .await
            .expect("killed tasks end");
    }
}
