//! [`TestCluster`]: an embedded cluster that belongs to one test and stops on drop, even
//! while a failing test unwinds.

use std::fmt::Debug;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::snapshot::ClusterSnapshot;
use kafka_sandbox::backend::ClusterControl;
use kafka_sandbox::config::{ClusterConfig, Timings};
use tokio::runtime::{Handle, RuntimeFlavor};

use super::wait_for;

/// Sandbox timings with a quick preferred-leader check so tests see it happen.
pub fn test_config(brokers: i32) -> ClusterConfig {
    ClusterConfig {
        brokers,
        timings: Timings {
            leader_imbalance_check_interval: Duration::from_millis(1000),
            ..Timings::sandbox_defaults()
        },
        ..ClusterConfig::default()
    }
}

/// How long a dropped [`TestCluster`] waits for its brokers and controller to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// An embedded cluster on free loopback ports that belongs to one test and stops when the test
/// is done with it: at the end of its scope, or while a panicking test unwinds.
///
/// Why a guard: `EmbeddedCluster` has no `Drop`. Dropping one drops only the handles; its
/// nodes' tasks (holding their listeners and connections) were spawned on the runtime and keep
/// serving until the runtime itself goes away. Stopping it takes `EmbeddedCluster::shutdown`,
/// which is async: it kills each node (a synchronous cancel) and then awaits its tasks ending,
/// which needs the runtime that runs them to keep going.
///
/// So `drop` runs that same `shutdown` to completion (bounded by [`SHUTDOWN_TIMEOUT`]):
/// - on a multi-thread runtime (every test here) it blocks in place
///   (`tokio::task::block_in_place` + `Handle::block_on`): the worker threads keep running the
///   nodes' tasks while they wind down, so when `drop` returns every broker and the controller
///   has stopped and their ports are closed;
/// - on a current-thread runtime blocking would deadlock (the tasks to await run on this very
///   thread), so it spawns the shutdown instead; the nodes stop as soon as the test yields, or
///   when the runtime is dropped at the end of the test, which drops every task;
/// - outside any runtime it runs the shutdown on a small runtime of its own.
///
/// `shutdown` is idempotent, so a test may still call it itself. Start the cluster before the
/// clients that use it: locals drop in reverse order, so the clients leave (a group member's
/// LeaveGroup, a final commit) while the cluster still answers. It derefs to the
/// `EmbeddedCluster`, so every helper taking `&EmbeddedCluster` takes `&TestCluster` too.
pub struct TestCluster {
    cluster: Arc<EmbeddedCluster>,
}

impl TestCluster {
    /// Starts `brokers` brokers with [`test_config`].
    pub async fn start(brokers: i32) -> Self {
        Self::start_with(test_config(brokers)).await
    }

    /// Starts a cluster with `config`.
    pub async fn start_with(config: ClusterConfig) -> Self {
        let cluster = EmbeddedCluster::start(config)
            .await
            .expect("cluster starts");
        Self {
            cluster: Arc::new(cluster),
        }
    }

    /// The same cluster as the scripting layer takes it. Clones do not keep it running: it
    /// still stops when this `TestCluster` is dropped.
    pub fn control(&self) -> Arc<dyn ClusterControl> {
        self.cluster.clone()
    }

    /// [`wait_for`] on the cluster's snapshot; a timeout shows the last one as the status
    /// table. Unlike `EmbeddedCluster::wait_for` it panics instead of returning false.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&ClusterSnapshot) -> bool,
    ) -> ClusterSnapshot {
        wait_for(what, timeout, || Status(self.snapshot()), |s| done(&s.0))
            .await
            .0
    }
}

/// A snapshot that prints as the status table in failure messages.
struct Status(ClusterSnapshot);

impl Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", self.0)
    }
}

impl Deref for TestCluster {
    type Target = EmbeddedCluster;

    fn deref(&self) -> &EmbeddedCluster {
        &self.cluster
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let cluster = self.cluster.clone();
        let stop = async move {
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, cluster.shutdown())
                .await
                .is_err()
            {
                eprintln!("TestCluster: the cluster did not stop within {SHUTDOWN_TIMEOUT:?}");
            }
        };
        // A panic escaping `drop` while the test is already unwinding would abort the whole
        // test binary; report it instead.
        let stopped = std::panic::catch_unwind(AssertUnwindSafe(|| match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(stop))
            }
            Ok(handle) => drop(handle.spawn(stop)),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to stop the cluster on")
                .block_on(stop),
        }));
        if stopped.is_err() {
            eprintln!("TestCluster: stopping the cluster panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_sandbox::backend::snapshot::BrokerState;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    /// Every broker of a cluster that is still referenced elsewhere is down, and a connection
    /// opened before was closed by the broker.
    async fn assert_stopped(control: &Arc<dyn ClusterControl>, mut conn: TcpStream) {
        let states: Vec<BrokerState> = control.snapshot().brokers.iter().map(|b| b.state).collect();
        assert!(
            states.iter().all(|s| *s == BrokerState::Down),
            "brokers after the drop: {states:?}"
        );
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(1), conn.read(&mut buf))
            .await
            .expect("the broker closed the connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_test_cluster_stops_it() {
        let cluster = TestCluster::start(2).await;
        let control = cluster.control();
        let conn = TcpStream::connect(cluster.broker_addr(1).unwrap())
            .await
            .unwrap();
        drop(cluster);
        assert_stopped(&control, conn).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_test_still_stops_its_cluster() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let failing = tokio::spawn(async move {
            let cluster = TestCluster::start(2).await;
            let conn = TcpStream::connect(cluster.broker_addr(1).unwrap())
                .await
                .unwrap();
            let _ = tx.send((cluster.control(), conn));
            panic!("a failing test");
        });
        assert!(failing.await.unwrap_err().is_panic());
        let (control, conn) = rx.await.unwrap();
        assert_stopped(&control, conn).await;
    }
}
