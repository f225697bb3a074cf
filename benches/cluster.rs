//! Cluster benchmarks behind docs/benchmarks.md: start-up to a cluster that accepts
//! CreateTopics, failover time after killing a leader, acks=all produce throughput on RF 3
//! with librdkafka, and resident memory of an idle `kafka-sandbox serve`.
//!
//! Run with `cargo bench --bench cluster`. Set `BENCH_MESSAGES` to change the produce count.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::{Backend, ClusterControl};
use kafka_sandbox::config::ClusterConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin")
}

async fn create(bootstrap: &str, name: &str, partitions: i32) -> bool {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(3));
    match admin(bootstrap)
        .create_topics(&[topic], &AdminOptions::new())
        .await
    {
        Ok(results) => results.iter().all(|r| r.is_ok()),
        Err(_) => false,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// Sends CreateTopics over a plain protocol connection and returns whether it succeeded.
async fn create_raw(cluster: &EmbeddedCluster, name: &str) -> bool {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let addr = cluster.broker_addr(1).unwrap();
    let mut conn = kafka_sandbox::protocol::client::Connection::connect(
        &addr.to_string(),
        "bench",
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(8)
            .with_replication_factor(3)]);
    let response = conn
        .call(&request, 7, Duration::from_secs(5))
        .await
        .unwrap();
    response.topics.iter().all(|t| t.error_code == 0)
}

async fn startup(runs: usize) -> (f64, f64, f64) {
    let (mut ready, mut raw, mut rdkafka) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let t0 = Instant::now();
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("start");
        ready.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(create_raw(&cluster, &format!("raw-{i}")).await);
        raw.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.shutdown().await;

        let t0 = Instant::now();
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("start");
        assert!(create(&cluster.bootstrap(), &format!("startup-{i}"), 8).await);
        rdkafka.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.shutdown().await;
    }
    (median(ready), median(raw), median(rdkafka))
}

async fn failover(runs: usize) -> (f64, f64) {
    let cluster = EmbeddedCluster::start(ClusterConfig::default())
        .await
        .expect("start");
    assert!(create(&cluster.bootstrap(), "failover", 8).await);
    let session = cluster
        .config()
        .timings
        .broker_session_timeout
        .as_secs_f64()
        * 1000.0;
    let mut times = Vec::new();
    for run in 0..runs {
        let victim = (run % 3) as i32 + 1;
        let all_in_sync = |c: &EmbeddedCluster| {
            c.snapshot()
                .topic("failover")
                .is_some_and(|t| t.partitions.iter().all(|p| p.isr.len() == 3))
        };
        assert!(
            cluster
                .wait_for(Duration::from_secs(20), |_| all_in_sync(&cluster))
                .await
        );
        let t0 = Instant::now();
        cluster.kill_broker(victim).await.unwrap();
        let led = cluster
            .wait_for(Duration::from_secs(20), |s| {
                s.topic("failover")
                    .unwrap()
                    .partitions
                    .iter()
                    .all(|p| p.leader.is_some() && !p.led_by(victim))
            })
            .await;
        assert!(led);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.start_broker(victim).await.unwrap();
    }
    cluster.shutdown().await;
    (median(times), session)
}

struct Counter(Arc<AtomicU64>, Arc<AtomicU64>);
impl ClientContext for Counter {}
impl ProducerContext for Counter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.1.fetch_add(1, Ordering::Relaxed),
        };
    }
}

async fn throughput(messages: u64) -> (f64, f64) {
    let cluster = EmbeddedCluster::start(ClusterConfig::default())
        .await
        .expect("start");
    assert!(create(&cluster.bootstrap(), "throughput", 8).await);
    let result = produce_flat_out(cluster.bootstrap(), messages).await;
    cluster.shutdown().await;
    result
}

/// Produces `messages` 100-byte messages with acks=all to the 8-partition topic `throughput`
/// as fast as librdkafka can; returns (messages/s, MB/s).
async fn produce_flat_out(bootstrap: String, messages: u64) -> (f64, f64) {
    tokio::task::spawn_blocking(move || {
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let producer: BaseProducer<Counter> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create_with_context(Counter(ok.clone(), failed.clone()))
            .expect("producer");
        let payload = [b'x'; 100];
        let t0 = Instant::now();
        for i in 0..messages {
            let key = (i % 1024).to_string();
            loop {
                match producer.send(
                    BaseRecord::<_, _, ()>::to("throughput")
                        .key(&key)
                        .payload(&payload[..]),
                ) {
                    Ok(()) => break,
                    Err((_, _)) => {
                        producer.poll(Duration::from_millis(1));
                    }
                }
            }
            if i % 1000 == 0 {
                producer.poll(Duration::ZERO);
            }
        }
        producer.flush(Duration::from_secs(120)).expect("flushed");
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(failed.load(Ordering::Relaxed), 0, "no failed deliveries");
        assert_eq!(ok.load(Ordering::Relaxed), messages);
        (messages as f64 / secs, messages as f64 * 100.0 / secs / 1e6)
    })
    .await
    .expect("producer thread")
}

/// A headless Chromium showing the view's page (it polls `/api/state` and follows
/// `/api/events` like any open tab). `None` if Chromium is not installed.
struct Browser(std::process::Child, std::path::PathBuf);

impl Browser {
    fn open(url: &str) -> Option<Self> {
        let profile =
            std::env::temp_dir().join(format!("kafka-sandbox-bench-{}", std::process::id()));
        let child = std::process::Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.display()),
                url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that closing it ends its renderers too.
            .process_group(0)
            .spawn()
            .ok()?;
        Some(Browser(child, profile))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this bench started.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// What is open beside the producer in one run of [`view_overhead`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beside {
    /// Nothing: the view serves, nobody looks.
    Nothing,
    /// Headless Chromium on `about:blank`: what a browser costs by being there.
    BlankBrowser,
    /// Headless Chromium showing the view's page.
    Page,
}

/// Produce throughput with nothing open, with an empty browser, and with the view's page open
/// (the view itself runs in all three, as in every session). One warm-up run is not counted;
/// then rounds that rotate the three, so drift on a shared machine hits each alike. Returns
/// the medians in MB/s (nothing, blank browser, page) and whether Chromium was there (else an
/// HTTP client polls like the page does, and the blank arm equals nothing).
async fn view_overhead(messages: u64, rounds: usize) -> ([f64; 3], bool) {
    let arms = [Beside::Nothing, Beside::BlankBrowser, Beside::Page];
    let mut figures: [Vec<f64>; 3] = Default::default();
    let mut real_browser = true;
    for run in 0..=rounds * 3 {
        let arm = if run == 0 {
            Beside::Nothing
        } else {
            let round = (run - 1) / 3;
            arms[((run - 1) + round) % 3]
        };
        let cluster = Arc::new(
            EmbeddedCluster::start(ClusterConfig::default())
                .await
                .expect("start"),
        );
        let control: Arc<dyn ClusterControl> = cluster.clone();
        let view = kafka_sandbox::view::View::start(control, Instant::now());
        let server = kafka_sandbox::view::web::serve(view.clone(), 0).expect("view");
        assert!(create(&cluster.bootstrap(), "throughput", 8).await);
        let mut browser = None;
        let mut poller = None;
        if arm != Beside::Nothing {
            let url = if arm == Beside::Page {
                server.url()
            } else {
                "about:blank".to_string()
            };
            browser = Browser::open(&url);
            if browser.is_none() {
                real_browser = false;
                if arm == Beside::Page {
                    poller = Some(tokio::spawn(poll_like_the_page(server.addr())));
                }
            }
            // Let the browser start and the page load and settle into polling before the
            // clock starts: the figure is what an open page costs, not a browser's start-up.
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        let (_, mbps) = produce_flat_out(cluster.bootstrap(), messages).await;
        drop(browser);
        if let Some(p) = poller {
            p.abort();
        }
        drop(server);
        cluster.shutdown().await;
        if run > 0 {
            figures[arms.iter().position(|a| *a == arm).expect("an arm")].push(mbps);
        }
    }
    println!(
        "  view: nothing {:.1?} MB/s, blank browser {:.1?} MB/s, page {:.1?} MB/s",
        figures[0], figures[1], figures[2]
    );
    let [a, b, c] = figures;
    ([median(a), median(b), median(c)], real_browser)
}

/// What an open page does, without a browser: `/api/state` every 400 ms.
async fn poll_like_the_page(addr: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /api/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// A group member polling on its own thread; reports (partition, value, when) of each message.
struct BenchMember {
    stop: Arc<std::sync::atomic::AtomicBool>,
    assignment: Arc<std::sync::Mutex<Vec<i32>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BenchMember {
    fn start(
        bootstrap: &str,
        topic: &str,
        group: &str,
        fetch_wait_ms: u64,
        seen: std::sync::mpsc::Sender<(i32, String, Instant)>,
    ) -> Self {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::Message;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("session.timeout.ms", "3000")
            .set("heartbeat.interval.ms", "300")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let assignment = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), assignment.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(10)) {
                    let value =
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                    let _ = seen.send((m.partition(), value, Instant::now()));
                }
                if let Ok(tpl) = consumer.assignment() {
                    *a.lock().unwrap() = tpl.elements().iter().map(|e| e.partition()).collect();
                }
            }
        });
        Self {
            stop,
            assignment,
            thread: Some(thread),
        }
    }

    fn owned(&self) -> Vec<i32> {
        self.assignment.lock().unwrap().clone()
    }

    fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Time from a member leaving (cleanly, or by SIGKILL of a kcat member) until the survivors
/// have received a message produced, right after the departure, to each of its partitions.
async fn group_takeover(crash: bool, runs: usize, fetch_wait_ms: u64) -> f64 {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let cluster = EmbeddedCluster::start(ClusterConfig::default())
        .await
        .expect("start");
    let bootstrap = cluster.bootstrap();
    let mut times = Vec::new();
    for run in 0..runs {
        let topic = format!("takeover-{crash}-{fetch_wait_ms}-{run}");
        let group = format!("group-{crash}-{fetch_wait_ms}-{run}");
        assert!(create(&bootstrap, &topic, 8).await);
        let (tx, rx) = std::sync::mpsc::channel();
        let survivors: Vec<BenchMember> = (0..2)
            .map(|_| BenchMember::start(&bootstrap, &topic, &group, fetch_wait_ms, tx.clone()))
            .collect();
        let mut kcat = None;
        let mut third = None;
        if crash {
            kcat = Some(
                std::process::Command::new("kcat")
                    .args([
                        "-b",
                        &bootstrap,
                        "-G",
                        &group,
                        "-q",
                        "-X",
                        "session.timeout.ms=3000",
                        "-X",
                        "heartbeat.interval.ms=300",
                        &topic,
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("kcat is installed"),
            );
        } else {
            third = Some(BenchMember::start(
                &bootstrap,
                &topic,
                &group,
                fetch_wait_ms,
                tx.clone(),
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while survivors.iter().map(|m| m.owned().len()).sum::<usize>() > 6
            || survivors.iter().any(|m| m.owned().is_empty())
        {
            assert!(Instant::now() < deadline, "group did not settle");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let owned_by_survivors: Vec<i32> = survivors.iter().flat_map(|m| m.owned()).collect();
        let departed: Vec<i32> = (0..8).filter(|p| !owned_by_survivors.contains(p)).collect();
        let t0 = Instant::now();
        if let Some(mut k) = kcat.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        if let Some(m) = third.take() {
            m.close();
        }
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        for p in &departed {
            producer
                .send(
                    FutureRecord::<(), _>::to(&topic)
                        .partition(*p)
                        .payload("after"),
                    Duration::from_secs(5),
                )
                .await
                .expect("produced");
        }
        let mut pending: Vec<i32> = departed.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pending.is_empty() {
            let (p, value, at) = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("survivors take over");
            if value == "after" && pending.contains(&p) {
                pending.retain(|x| *x != p);
                if pending.is_empty() {
                    times.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                }
            }
        }
        for m in survivors {
            m.close();
        }
    }
    cluster.shutdown().await;
    median(times)
}

/// Drives the REPL in a pseudo-terminal (Python's pty module): time from launch to the prompt
/// with a ready cluster, and from typing `p.send(...)` to the consumer's line on screen.
const REPL_DRIVER: &str = r#"
import os, pty, sys, time, select, statistics
exe = sys.argv[1]
os.environ["NO_COLOR"] = "1"
os.environ["HOME"] = "/tmp"
t0 = time.time()
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "--port", "0"])
seen = b""
def expect(p, timeout=30):
    global seen
    end = time.time() + timeout
    while p.encode() not in seen:
        r, _, _ = select.select([fd], [], [], 0.001)
        if r:
            seen += os.read(fd, 65536)
        if time.time() > end:
            sys.exit("timeout waiting for " + p)
    i = seen.index(p.encode()) + len(p)
    seen = seen[i:]
prompt = None
expect("kafka> ")
prompt = (time.time() - t0) * 1000
def cmd(text, marker):
    os.write(fd, (text + "\r").encode())
    expect(marker)
    expect("kafka> ")
    time.sleep(0.1)
cmd('create_topic("latency", 8, 3)', "created topic")
cmd('let c = consumer("latency", #{group: "lat"})', "assigned partitions")
cmd('let p = producer(); print(40 + 2)', "42")
lat = []
for i in range(30):
    t = time.time()
    os.write(fd, ('p.send("latency", "probe-%d")\r' % i).encode())
    expect("probe-%d  (p" % i)
    lat.append((time.time() - t) * 1000)
    expect("kafka> ")
    time.sleep(0.05)
os.write(fd, b"")
expect("bye")
os.waitpid(pid, 0)
print("%.1f %.1f" % (prompt, statistics.median(lat)))
"#;

fn repl_figures() -> Option<(f64, f64)> {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", REPL_DRIVER, env!("CARGO_BIN_EXE_kafka-sandbox")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((parts.next()??, parts.next()??))
}

fn idle_rss_mb() -> f64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(["serve", "--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("binary");
    std::thread::sleep(Duration::from_secs(3));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("proc status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    drop(child.stdin.take());
    let _ = child.wait();
    kb / 1024.0
}

/// Resident memory of every `kafka-sandbox node` process that is a child of this process or
/// of a container's init (pids given), in MB.
fn rss_mb(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

fn node_child_pids() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid.as_deref() == Some(me.as_str()) && String::from_utf8_lossy(&cmd).contains("node")
        })
        .collect()
}

async fn container_pids() -> Vec<u32> {
    use kafka_sandbox::backend::docker::ownership::{Owner, OWNER_LABEL};
    let Ok(engine) = kafka_sandbox::backend::docker::containers::Engine::connect().await else {
        return Vec::new();
    };
    // This process's run: the containers whose owner label names this process.
    let filters =
        std::collections::HashMap::from([("label".to_string(), vec![OWNER_LABEL.to_string()])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    let Ok(list) = engine.docker().list_containers(Some(options)).await else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for container in list {
        let ours = container
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .and_then(|o| Owner::parse(o))
            .is_some_and(|o| o.pid() == std::process::id());
        let Some(id) = container.id.filter(|_| ours) else {
            continue;
        };
        if let Ok(inspect) = engine
            .docker()
            .inspect_container(
                &id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            pids.extend(inspect.state.and_then(|s| s.pid).map(|p| p as u32));
        }
    }
    pids
}

/// Start-to-ready, idle memory of the nodes, and kill → every partition led by a live broker,
/// for one backend.
async fn backend_figures(backend: &Backend) -> (f64, Option<f64>, f64) {
    let t0 = Instant::now();
    let cluster = backend
        .start(ClusterConfig::default())
        .await
        .expect("start");
    let ready = t0.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = match backend {
        Backend::Processes { .. } => Some(rss_mb(&node_child_pids())),
        Backend::Docker(_) => Some(rss_mb(&container_pids().await)),
        _ => None,
    };
    assert!(create(&cluster.bootstrap(), "backend-failover", 8).await);
    let settled = |c: &dyn ClusterControl| {
        c.snapshot()
            .topic("backend-failover")
            .is_some_and(|t| t.partitions.iter().all(|p| p.isr.len() == 3))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !settled(cluster.as_ref()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    cluster.kill(1).await.expect("kill");
    loop {
        let led = cluster
            .snapshot()
            .topic("backend-failover")
            .is_some_and(|t| {
                t.partitions
                    .iter()
                    .all(|p| p.leader.is_some() && !p.led_by(1))
            });
        if led || t0.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failover = t0.elapsed().as_secs_f64() * 1000.0;
    cluster.shutdown().await;
    (ready, rss, failover)
}

async fn backends() {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_kafka-sandbox"));
    let mut all = vec![
        ("embedded", Backend::Embedded),
        ("processes", Backend::Processes { exe: exe.clone() }),
    ];
    match kafka_sandbox::backend::docker::containers::Engine::connect().await {
        Ok(engine) => {
            use kafka_sandbox::backend::docker::image::{build, Tagging};
            let built = build(engine.docker(), &exe, Tagging::ContentOnly, &mut |_| {})
                .await
                .expect("node image builds");
            all.push((
                "docker (sandbox node image)",
                Backend::Docker(kafka_sandbox::backend::docker::DockerOptions {
                    image: built.tags[0].clone(),
                    keep_on_failure: false,
                }),
            ));
        }
        Err(e) => println!("backends: docker skipped: {e}"),
    }
    for (name, backend) in all {
        let (ready, rss, failover) = backend_figures(&backend).await;
        let rss = rss.map_or("in this process (see memory)".to_string(), |mb| {
            format!("{mb:.1} MB for the controller and 3 brokers")
        });
        println!("backend {name}: ready {ready:.0} ms; idle nodes {rss}; kill → new leaders {failover:.0} ms");
    }
}

fn main() {
    let messages: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if std::env::args().any(|a| a == "backends") {
        rt.block_on(backends());
        return;
    }
    if std::env::args().any(|a| a == "view") {
        view_figures(&rt, messages);
        return;
    }
    let (ready, raw, rdkafka) = rt.block_on(startup(10));
    println!(
        "start-up: cluster ready {ready:.1} ms; 8x3 topic created {raw:.1} ms after start (protocol client), \
         {rdkafka:.1} ms with an rdkafka admin client created after start (medians of 10)"
    );
    let (fail, session) = rt.block_on(failover(5));
    println!("failover: all partitions led again {fail:.0} ms after kill (session timeout {session:.0} ms; median of 5)");
    let (mps, mbps) = rt.block_on(throughput(messages));
    println!("throughput: {messages} x 100 B, acks=all, RF 3: {mps:.0} msg/s, {mbps:.1} MB/s");
    println!(
        "memory: idle 3-broker serve resident {:.1} MB",
        idle_rss_mb()
    );
    match repl_figures() {
        Some((prompt, latency)) => {
            println!("repl: launch to prompt with a ready cluster {prompt:.0} ms; send to the consumer's line on screen {latency:.1} ms (median of 30)")
        }
        None => println!("repl: skipped (needs /usr/bin/python3 for its pty module)"),
    }
    for fetch_wait in [100, 500] {
        let leave = rt.block_on(group_takeover(false, 5, fetch_wait));
        println!("group (fetch.wait.max.ms={fetch_wait}): survivors consume a cleanly departed member's partitions {leave:.0} ms after it closes (median of 5)");
    }
    let crash = rt.block_on(group_takeover(true, 3, 100));
    println!(
        "group (fetch.wait.max.ms=100): survivors consume a crashed member's partitions {crash:.0} ms after SIGKILL (session timeout 3000 ms; median of 3)"
    );
    view_figures(&rt, messages);
    rt.block_on(backends());
}

fn view_figures(rt: &tokio::runtime::Runtime, messages: u64) {
    // Long enough runs that the page polls a few dozen times while the producer runs.
    let rounds = 4;
    let ([nothing, blank, page], browser) = rt.block_on(view_overhead(messages * 4, rounds));
    let change = |to: f64, from: f64| (to / from - 1.0) * 100.0;
    if browser {
        println!(
            "view: produce {nothing:.1} MB/s with nothing open, {blank:.1} MB/s beside an empty headless Chromium ({:+.1} %), {page:.1} MB/s with the page open in it ({:+.1} % against nothing, {:+.1} % against the empty browser); medians of {rounds} rotated runs each, after a warm-up run",
            change(blank, nothing),
            change(page, nothing),
            change(page, blank)
        );
    } else {
        println!(
            "view: produce {nothing:.1} MB/s with nothing polling, {page:.1} MB/s with an HTTP client polling /api/state every 400 ms like the page ({:+.1} %; no Chromium installed); medians of {rounds} rotated runs each",
            change(page, nothing)
        );
    }
}
