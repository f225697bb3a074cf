//! Group takeover: how soon the survivors consume a departed member's partitions, after a
//! clean leave or a crash.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;
use rdkafka::config::ClientConfig;

use crate::{create, median};

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
pub async fn group_takeover(crash: bool, runs: usize, fetch_wait_ms: u64) -> f64 {
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
