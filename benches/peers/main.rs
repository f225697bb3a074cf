//! Side by side with peers, in one run: the same librdkafka workload ([`workload`]) against the
//! embedded cluster (3 brokers, RF 3, and 1 broker, RF 1, Tansu's shape), Tansu (1 broker,
//! RF 1, memory storage; when its binary is found) and librdkafka's mock cluster (3 brokers,
//! RF 3, in this process), three rounds in rotated order, every figure printed and the
//! sandbox's ratios to each peer (and the one-broker sandbox's to Tansu).
//!
//! Run with `cargo bench --bench peers`. `BENCH_MESSAGES` sets the messages per run (default
//! 1,000,000); `BENCH_ROUNDS` the rounds (default 3); `TANSU` the Tansu binary (default: `tansu`
//! on the PATH, else `$TMPDIR/ksb-peers/tansu` as `../shared/bench/peers.sh` fetches it);
//! `BENCH_ONLY` one peer (`sandbox`, `sandboxonebroker`, `tansu`, `mock`);
//! `BENCH_SANDBOX_BROKERS` the first sandbox's brokers; `BENCH_FETCH_QUEUE_BACKOFF_MS` the
//! consumers' `fetch.queue.backoff.ms` (the assigned consumer also reads a second time with it
//! at 10 ms in every run).
//! `cargo bench --bench peers -- scale` runs the partition-count benchmark instead ([`scale`]).

mod client_send;
mod scale;
mod wire_send;
mod workload;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;
use rdkafka::mocking::MockCluster;
use workload::{Figures, PARTITIONS};

/// The most messages the mock cluster is given.
const MOCK_MESSAGES: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Sandbox,
    /// The sandbox with one broker: Tansu's shape, for a like-for-like ratio.
    SandboxOneBroker,
    Tansu,
    Mock,
}

impl Peer {
    fn label(self) -> &'static str {
        match self {
            Peer::Sandbox if sandbox_brokers() == 1 => "kafka-sandbox embedded, 1 broker, RF 1",
            Peer::Sandbox => "kafka-sandbox embedded, 3 brokers, RF 3",
            Peer::SandboxOneBroker => "kafka-sandbox embedded, 1 broker, RF 1 (like Tansu)",
            Peer::Tansu => "Tansu, 1 broker, RF 1, memory storage",
            Peer::Mock => "librdkafka mock cluster, 3 brokers, RF 3 (≤ 200,000 messages)",
        }
    }
}

/// `BENCH_SANDBOX_BROKERS`: the sandbox's broker count (3 unless set; RF is at most 3).
fn sandbox_brokers() -> usize {
    env_number("BENCH_SANDBOX_BROKERS", 3)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "scale") {
        scale::main();
        return;
    }
    let messages = env_number("BENCH_MESSAGES", 1_000_000);
    let rounds = env_number("BENCH_ROUNDS", 3);
    let tansu = tansu_binary();
    let mut peers = vec![Peer::Sandbox, Peer::SandboxOneBroker, Peer::Mock];
    if sandbox_brokers() == 1 {
        peers.retain(|p| *p != Peer::SandboxOneBroker);
    }
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        peers.retain(|p| format!("{p:?}").eq_ignore_ascii_case(&only));
    }
    match &tansu {
        Some(path) if std::env::var("BENCH_ONLY").is_ok_and(|o| o.eq_ignore_ascii_case("tansu")) => {
            println!("tansu: {}", path.display());
            peers.push(Peer::Tansu);
        }
        Some(_) if std::env::var("BENCH_ONLY").is_ok() => {}
        Some(path) => {
            println!("tansu: {}", path.display());
            peers.insert(1, Peer::Tansu);
        }
        None => println!("tansu: not found (set TANSU, or source ../shared/bench/peers.sh and run tansu_bin); left out"),
    }
    let mut results: Vec<(Peer, Vec<Figures>)> = peers.iter().map(|p| (*p, Vec::new())).collect();
    for round in 0..rounds {
        let mut order = peers.clone();
        order.rotate_left(round % peers.len());
        for peer in order {
            let prefix = format!("bench-{round}");
            match run_on(peer, &prefix, messages, tansu.as_deref()) {
                Ok(f) => {
                    println!(
                        "round {} {:<42} produce {:6.1} MB/s  consume (assign) {:6.1} MB/s  (short backoff) {:6.1} MB/s  consume (group) {:6.1} MB/s  latency p50 {:6.2} ms p99 {:6.2} ms",
                        round + 1,
                        peer.label(),
                        f.produce_mbs,
                        f.assign_mbs,
                        f.assign_short_backoff_mbs,
                        f.group_mbs,
                        f.latency_p50_ms,
                        f.latency_p99_ms
                    );
                    results
                        .iter_mut()
                        .find(|(p, _)| *p == peer)
                        .expect("peer")
                        .1
                        .push(f);
                }
                Err(e) => println!("round {} {:<42} failed: {e}", round + 1, peer.label()),
            }
        }
    }
    summarize(&results, messages);
}

fn summarize(results: &[(Peer, Vec<Figures>)], messages: usize) {
    println!("\n{messages} messages of 100 B, {PARTITIONS} partitions, acks=all, linger.ms=5; every run:");
    let column = |runs: &[Figures], pick: fn(&Figures) -> f64| {
        runs.iter()
            .map(|f| format!("{:.1}", pick(f)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("| cluster | produce MB/s | consume (assign) MB/s | consume (assign, fetch.queue.backoff.ms=10) MB/s | consume (group) MB/s | latency p50 ms | latency p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (peer, runs) in results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            peer.label(),
            column(runs, |f| f.produce_mbs),
            column(runs, |f| f.assign_mbs),
            column(runs, |f| f.assign_short_backoff_mbs),
            column(runs, |f| f.group_mbs),
            column(runs, |f| f.latency_p50_ms),
            column(runs, |f| f.latency_p99_ms),
        );
    }
    let runs = |peer: Peer| results.iter().find(|(p, _)| *p == peer).map(|(_, r)| r);
    let ratios = |ours: &[Figures], ours_label: &str, peer: Peer, theirs: &[Figures]| {
        let ratio = |pick: fn(&Figures) -> f64| {
            ours.iter()
                .zip(theirs)
                .map(|(a, b)| format!("{:.2}", pick(a) / pick(b)))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "{ours_label} ÷ {}: produce {}×, consume (assign) {}×, consume (assign, short backoff) {}×, consume (group) {}× (round by round)",
            peer.label(),
            ratio(|f| f.produce_mbs),
            ratio(|f| f.assign_mbs),
            ratio(|f| f.assign_short_backoff_mbs),
            ratio(|f| f.group_mbs)
        );
    };
    if let Some(ours) = runs(Peer::Sandbox) {
        for (peer, theirs) in results
            .iter()
            .filter(|(p, _)| !matches!(p, Peer::Sandbox | Peer::SandboxOneBroker))
        {
            ratios(ours, "sandbox", *peer, theirs);
        }
    }
    if let (Some(ours), Some(theirs)) = (runs(Peer::SandboxOneBroker), runs(Peer::Tansu)) {
        ratios(ours, "sandbox (1 broker)", Peer::Tansu, theirs);
    }
}

fn run_on(
    peer: Peer,
    prefix: &str,
    messages: usize,
    tansu: Option<&std::path::Path>,
) -> Result<Figures, String> {
    let topics = [format!("{prefix}-load"), format!("{prefix}-latency")];
    match peer {
        Peer::Sandbox | Peer::SandboxOneBroker => {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let brokers = match peer {
                Peer::SandboxOneBroker => 1,
                _ => sandbox_brokers() as i32,
            };
            let config = ClusterConfig {
                brokers,
                ..ClusterConfig::default()
            };
            let cluster = rt
                .block_on(EmbeddedCluster::start(config))
                .map_err(|e| e.to_string())?;
            let bootstrap = cluster.bootstrap();
            let outcome = topics
                .iter()
                .try_for_each(|t| workload::create_topic(&bootstrap, t, brokers.min(3)))
                .and_then(|()| workload::run(&bootstrap, prefix, messages));
            rt.block_on(cluster.shutdown());
            outcome
        }
        Peer::Tansu => {
            let tansu = Tansu::start(tansu.ok_or("no tansu binary")?)?;
            topics
                .iter()
                .try_for_each(|t| workload::create_topic(&tansu.bootstrap, t, 1))?;
            workload::run(&tansu.bootstrap, prefix, messages)
        }
        Peer::Mock => {
            let mock = MockCluster::new(3).map_err(|e| e.to_string())?;
            for t in &topics {
                mock.create_topic(t, PARTITIONS, 3)
                    .map_err(|e| e.to_string())?;
            }
            // The mock keeps a bounded log per partition (it held about 365,000 of 1,000,000
            // messages), so it gets at most 200,000, peerbench's default.
            workload::run(
                &mock.bootstrap_servers(),
                prefix,
                messages.min(MOCK_MESSAGES),
            )
        }
    }
}

fn tansu_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let fetched = std::env::temp_dir().join("ksb-peers").join("tansu");
        fetched.is_file().then_some(fetched)
    })
}

/// A Tansu broker on a free port below 32768, killed on drop.
struct Tansu {
    child: Child,
    bootstrap: String,
}

impl Tansu {
    fn start(binary: &std::path::Path) -> Result<Self, String> {
        let port = free_low_port().ok_or("no free port below 32768")?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let tansu = Tansu {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&tansu.bootstrap).is_err() {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err("tansu did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tansu)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port below the kernel's ephemeral range that nothing listens on right now.
fn free_low_port() -> Option<u16> {
    let start = 20_000 + (std::process::id() % 5_000) as u16;
    (start..32_000).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
}
