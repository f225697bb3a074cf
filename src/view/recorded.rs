//! The cluster as sessions and `serve` control it: every fault and repair goes on the
//! timeline (with the figures just before it) on its way to the backend, and a refusal is
//! recorded too. Whoever calls — a script, the REPL, a lesson, a control line — is recorded
//! the same way, because there is only this one door.

use std::future::Future;
use std::sync::Arc;

use super::View;
use crate::backend::events::ClusterEvent;
use crate::backend::snapshot::ClusterSnapshot;
use crate::backend::{BoxFuture, ClusterControl, ClusterError};

/// A [`ClusterControl`] that records what is done through it.
pub(super) struct Recorded {
    view: Arc<View>,
}

impl Recorded {
    pub(super) fn new(view: Arc<View>) -> Self {
        Self { view }
    }

    fn inner(&self) -> &dyn ClusterControl {
        self.view.cluster.as_ref()
    }

    /// Records `command` on `broker`, runs it, and records a refusal.
    fn recorded<'a, T: Send + 'a>(
        &'a self,
        command: &'static str,
        broker: Option<i32>,
        run: impl Future<Output = Result<T, ClusterError>> + Send + 'a,
    ) -> BoxFuture<'a, Result<T, ClusterError>> {
        self.view.fault(command, broker);
        Box::pin(async move {
            let outcome = run.await;
            if let Err(e) = &outcome {
                self.view.fault_failed(command, broker, &e.to_string());
            }
            outcome
        })
    }
}

impl ClusterControl for Recorded {
    fn brokers(&self) -> Vec<i32> {
        self.inner().brokers()
    }
    fn bootstrap(&self) -> String {
        self.inner().bootstrap()
    }
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("stop", Some(id), self.inner().stop(id))
    }
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("kill", Some(id), self.inner().kill(id))
    }
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("start", Some(id), self.inner().start(id))
    }
    fn restart(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("restart", Some(id), self.inner().restart(id))
    }
    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("pause", Some(id), self.inner().pause(id))
    }
    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("resume", Some(id), self.inner().resume(id))
    }
    fn isolate(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("isolate", Some(id), self.inner().isolate(id))
    }
    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        let command = if paused {
            "pause-controller"
        } else {
            "resume-controller"
        };
        self.recorded(command, None, self.inner().set_controller_paused(paused))
    }
    fn heal(&self, id: Option<i32>) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.recorded("heal", id, self.inner().heal(id))
    }
    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        self.inner().logs(id)
    }
    fn snapshot(&self) -> ClusterSnapshot {
        self.inner().snapshot()
    }
    fn events(&self) -> tokio::sync::mpsc::UnboundedReceiver<ClusterEvent> {
        self.inner().events()
    }
    fn group_generations(&self) -> Option<std::collections::BTreeMap<String, i32>> {
        self.inner().group_generations()
    }
    fn kind(&self) -> &'static str {
        self.inner().kind()
    }
    fn uncontrolled(&self) -> Option<crate::backend::attach::NoControl> {
        self.inner().uncontrolled()
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.inner().shutdown()
    }
}
