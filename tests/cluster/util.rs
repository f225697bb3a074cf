//! Shared helpers: an embedded cluster per test, real rdkafka clients, unique names, and
//! waiting for conditions with deadlines instead of sleeping.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::snapshot::ClusterSnapshot;
use kafka_sandbox::backend::ClusterControl;
use kafka_sandbox::config::{ClusterConfig, Timings};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::{Handle, RuntimeFlavor};

/// Every test finishes within this or fails.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a test body with a deadline.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test exceeded its time bound");
}

/// How often the wait helpers look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits until `done` holds for what `observe` sees and returns that observation. After
/// `timeout` it panics naming what was awaited and showing the last observation, so a failure
/// says what the test saw instead. Phrase `what` to follow "waited 10s for": "the survivors to
/// own every partition".
pub async fn wait_for<S: Debug>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> S,
    done: impl FnMut(&S) -> bool,
) -> S {
    wait_for_async(what, timeout, || std::future::ready(observe()), done).await
}

/// [`wait_for`] for observations that need `.await` (a request to the cluster). A look still
/// under way at the deadline counts as a timeout.
pub async fn wait_for_async<S: Debug, F: Future<Output = S>>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> F,
    mut done: impl FnMut(&S) -> bool,
) -> S {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // `timeout_at` polls the look before its deadline, so a ready one always counts.
        let Ok(seen) = tokio::time::timeout_at(deadline, observe()).await else {
            panic!("waited {timeout:?} for {what}; the last look did not finish in time");
        };
        if done(&seen) {
            return seen;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            panic!("waited {timeout:?} for {what}; last saw: {seen:?}");
        }
        // The last look is taken at the deadline, not a poll interval after it.
        tokio::time::sleep_until((now + POLL_INTERVAL).min(deadline)).await;
    }
}

/// Checks that `holds` stays true for what `observe` sees throughout `window` and returns the
/// last observation; panics at the first observation that breaks it. This is the one honest
/// use of waiting out a fixed time: proving something does *not* happen within a window. Phrase
/// `what` to follow "expected": "a to keep its partitions".
pub async fn holds_for<S: Debug>(
    what: &str,
    window: Duration,
    mut observe: impl FnMut() -> S,
    mut holds: impl FnMut(&S) -> bool,
) -> S {
    let started = tokio::time::Instant::now();
    let end = started + window;
    loop {
        let seen = observe();
        if !holds(&seen) {
            panic!(
                "expected {what} for {window:?}, but after {:?} saw: {seen:?}",
                started.elapsed()
            );
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            return seen;
        }
        // The last look is taken at the end of the window.
        tokio::time::sleep_until((now + POLL_INTERVAL).min(end)).await;
    }
}

/// A unique name for a topic.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

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

pub fn client_config(cluster: &EmbeddedCluster) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", cluster.bootstrap())
        .set("topic.metadata.refresh.interval.ms", "500")
        .set("socket.timeout.ms", "5000");
    c
}

/// An admin client.
pub fn admin(cluster: &EmbeddedCluster) -> AdminClient<DefaultClientContext> {
    client_config(cluster).create().expect("admin client")
}

/// Creates a topic through the Kafka admin API and checks the result.
pub async fn create_topic(
    cluster: &EmbeddedCluster,
    name: &str,
    partitions: i32,
    rf: i32,
    configs: &[(&str, &str)],
) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin(cluster)
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(5))),
        )
        .await
        .expect("CreateTopics answered");
    for r in results {
        r.expect("topic created");
    }
}

/// A producer with the given acks.
pub fn producer(cluster: &EmbeddedCluster, acks: &str) -> FutureProducer {
    client_config(cluster)
        .set("acks", acks)
        .set("message.timeout.ms", "15000")
        .set("request.timeout.ms", "5000")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "50")
        .create()
        .expect("producer")
}

/// Sends `value` and returns (partition, offset) as acknowledged.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &str,
) -> Result<(i32, i64), String> {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(15),
        )
        .await
        .map(|d| (d.partition, d.offset))
        .map_err(|(e, _)| e.to_string())
}

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub value: String,
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived or
/// the deadline passed (blocking; run it with spawn_blocking).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(Consumed {
                partition: m.partition(),
                offset: m.offset(),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            });
        }
    }
    out
}

/// Consumes on a blocking thread.
pub async fn consume_async(
    cluster: &EmbeddedCluster,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<Consumed> {
    let (bootstrap, topic) = (cluster.bootstrap(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        consume(
            &bootstrap,
            &topic,
            partitions,
            expected,
            Duration::from_secs(30),
        )
    })
    .await
    .expect("consumer thread")
}

/// Partition layout as a client sees it in Metadata: partition -> (leader, replicas, isr).
pub fn client_metadata(
    cluster: &EmbeddedCluster,
    topic: &str,
) -> BTreeMap<i32, (i32, Vec<i32>, Vec<i32>)> {
    let client: BaseConsumer = client_config(cluster).create().expect("client");
    let md = client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    t.partitions()
        .iter()
        .map(|p| {
            (
                p.id(),
                (p.leader(), p.replicas().to_vec(), p.isr().to_vec()),
            )
        })
        .collect()
}

/// True if every partition of `topic` has a leader and its whole replica set in the ISR.
pub fn fully_in_sync(snapshot: &ClusterSnapshot, topic: &str) -> bool {
    snapshot.topic(topic).is_some_and(|t| {
        t.partitions
            .iter()
            .all(|p| p.isr_ids().len() == p.replica_ids().len() && p.leader_id() >= 0)
    })
}

/// Reads a child's stdout until a line contains `needle` (15 s at most); `seen` keeps every
/// line for the failure message.
pub async fn read_until<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    read_until_within(lines, needle, seen, Duration::from_secs(15)).await
}

/// [`read_until`] with a time limit of `within`.
pub async fn read_until_within<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    needle: &str,
    seen: &mut Vec<String>,
    within: Duration,
) -> String {
    let found = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!(
            "'{needle}' never printed; output so far:\n{}",
            seen.join("\n")
        ),
    }
}

/// Writes a script file in this test run's temporary directory.
pub fn script_file(name: &str, source: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-sandbox-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

/// Runs a kafka-python `script` with `args` (as `sys.argv[1:]`) and returns what it printed;
/// a failed script fails the test with its output.
pub async fn kafka_python(script: &'static str, args: Vec<String>) -> String {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .args(&args)
            .output()
    })
    .await
    .unwrap()
    .expect("python runs (install python3-kafka)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kafka-python failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs the binary with `args` (80 s at most) and returns its output.
pub async fn sandbox(args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(80), child)
        .await
        .expect("finishes")
        .expect("runs")
}

/// `kafka-sandbox run` on a script written from `source`.
pub async fn run(name: &str, source: &str) -> std::process::Output {
    let path = script_file(name, source);
    sandbox(&["run", path.to_str().unwrap()]).await
}

/// (stdout, stderr) as text.
pub fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Plain broker numbers from the shared partition view, for comparing with test constants.
pub trait Numbered {
    /// The leader's id, or -1 with no leader.
    fn leader_id(&self) -> i32;
    /// Replica ids, preferred first.
    fn replica_ids(&self) -> Vec<i32>;
    /// In-sync replica ids.
    fn isr_ids(&self) -> Vec<i32>;
}

impl Numbered for kafka_sandbox::backend::snapshot::PartitionView {
    fn leader_id(&self) -> i32 {
        self.leader.map_or(-1, |l| l.0)
    }
    fn replica_ids(&self) -> Vec<i32> {
        self.replicas.iter().map(|b| b.0).collect()
    }
    fn isr_ids(&self) -> Vec<i32> {
        self.isr.iter().map(|b| b.0).collect()
    }
}

/// A protocol connection to broker `id` of `cluster`, as client `client_id`, for tests that
/// send requests no client library wraps.
pub async fn broker_connection(
    cluster: &EmbeddedCluster,
    id: i32,
    client_id: &str,
) -> kafka_sandbox::protocol::client::Connection {
    let addr = cluster.broker_addr(id).expect("a broker of the cluster");
    kafka_sandbox::protocol::client::Connection::connect(
        &addr.to_string(),
        client_id,
        Duration::from_secs(2),
    )
    .await
    .expect("the broker accepts a connection")
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

    /// The message of the panic `body` ends with.
    async fn panic_message(body: impl Future<Output = ()> + Send + 'static) -> String {
        let panic = tokio::spawn(body)
            .await
            .expect_err("it panics")
            .into_panic();
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .expect("a message")
    }

    #[tokio::test]
    async fn wait_for_returns_the_first_observation_that_satisfies() {
        let mut looks = 0;
        let seen = wait_for(
            "the third look",
            Duration::from_secs(1),
            || {
                looks += 1;
                looks
            },
            |n| *n == 3,
        )
        .await;
        assert_eq!(seen, 3);
    }

    #[tokio::test]
    async fn wait_for_names_what_it_awaited_and_the_last_observation() {
        let started = Instant::now();
        let message = panic_message(async {
            wait_for(
                "the ISR to shrink",
                Duration::from_millis(200),
                || vec![1, 2, 3],
                |isr| isr.len() == 1,
            )
            .await;
        })
        .await;
        assert_eq!(
            message,
            "waited 200ms for the ISR to shrink; last saw: [1, 2, 3]"
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn wait_for_async_gives_up_on_a_look_that_hangs() {
        let message = panic_message(async {
            wait_for_async(
                "an answer",
                Duration::from_millis(100),
                std::future::pending::<()>,
                |_| true,
            )
            .await;
        })
        .await;
        assert_eq!(
            message,
            "waited 100ms for an answer; the last look did not finish in time"
        );
    }

    #[tokio::test]
    async fn holds_for_looks_until_the_end_of_the_window() {
        let started = Instant::now();
        let last_look = holds_for(
            "the condition to keep holding",
            Duration::from_millis(200),
            Instant::now,
            |_| true,
        )
        .await;
        assert!(last_look - started >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn holds_for_fails_at_the_first_observation_that_breaks_it() {
        let message = panic_message(async {
            let mut looks = 0;
            holds_for(
                "the count to stay below 5",
                Duration::from_secs(10),
                || {
                    looks += 1;
                    looks
                },
                |n| *n < 5,
            )
            .await;
        })
        .await;
        assert!(
            message.starts_with("expected the count to stay below 5 for 10s, but after ")
                && message.ends_with("saw: 5"),
            "{message}"
        );
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
