//! The view from outside, the way a browser, curl and Prometheus reach it: `/metrics` parsed
//! as Prometheus text while a broker is down and after it rejoins, `/api/events` replaying the
//! session then streaming, `/api/state`, `metrics()` in a script, and the errors a learner
//! meets (a taken port).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::view::{web, View};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::util::*;

/// `GET path` over a fresh connection; the body (HTTP/1.1 with `Connection: close`).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("the view listens");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the view answers within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    // Bodies of unknown length come chunked; the tests only read small ones, so unchunk.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        body = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// The sum over brokers of one Prometheus series, and which brokers reported it.
fn series(text: &str, name: &str) -> (f64, Vec<String>) {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("/metrics parses as Prometheus text");
    let mut total = 0.0;
    let mut brokers = Vec::new();
    for s in scrape.samples.iter().filter(|s| s.metric == name) {
        if let prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) = s.value
        {
            total += v;
        }
        if let Some(b) = s.labels.get("broker") {
            brokers.push(b.to_string());
        }
    }
    brokers.sort();
    (total, brokers)
}

const URP: &str = "kafka_server_replicamanager_underreplicatedpartitions";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_under_replicated_partitions_while_a_broker_is_down_and_none_after() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let view = View::start(cluster.control(), Instant::now());
        let server = web::serve(view.clone(), 0).expect("the view starts on a free port");
        let addr = server.addr();
        let topic = unique("urp");
        create_topic(&cluster, &topic, 4, 3, &[]).await;
        // A reader that connects to the event stream and never reads must not hold anything up.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();

        let healthy = wait_for_async(
            "a healthy cluster's metrics",
            Duration::from_secs(10),
            || get(addr, "/metrics"),
            |(status, text)| *status == 200 && series(text, URP).1.len() == 3,
        )
        .await;
        assert_eq!(series(&healthy.1, URP).0, 0.0);
        assert_eq!(
            series(
                &healthy.1,
                "kafka_controller_kafkacontroller_activecontrollercount"
            )
            .0,
            1.0
        );

        let control = view.control();
        control.kill(2).await.unwrap();
        // A scrape reads each series on its own, as a JMX exporter reads each MBean: the gauge
        // (from the metadata) and the counters (from the metadata changes seen so far) may be
        // a change apart for a moment, so the scrape awaited is one where all three moved.
        let down = wait_for_async(
            "UnderReplicatedPartitions, IsrShrinks and LeaderElections above 0 with broker 2 down",
            Duration::from_secs(10),
            || get(addr, "/metrics"),
            |(_, text)| {
                series(text, URP).0 > 0.0
                    && series(text, "kafka_server_replicamanager_isrshrinks_total").0 > 0.0
                    && series(
                        text,
                        "kafka_controller_controllerstats_leaderelections_total",
                    )
                    .0 > 0.0
            },
        )
        .await;
        assert_eq!(
            series(&down.1, URP).1,
            vec!["1", "3"],
            "a dead broker reports nothing"
        );

        control.start(2).await.unwrap();
        let back = wait_for_async(
            "UnderReplicatedPartitions back to 0 once broker 2 caught up",
            Duration::from_secs(20),
            || get(addr, "/metrics"),
            |(_, text)| {
                series(text, URP) == (0.0, vec!["1".into(), "2".into(), "3".into()])
                    && series(text, "kafka_server_replicamanager_isrexpands_total").0 > 0.0
            },
        )
        .await;
        assert_eq!(series(&back.1, URP).0, 0.0);
        drop(stalled);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_replay_the_session_on_connect_then_stream_as_they_happen() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let view = View::start(cluster.control(), Instant::now());
        let server = web::serve(view.clone(), 0).unwrap();
        let control = view.control();
        control.pause(3).await.unwrap();

        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(stream).lines();
        let mut events: Vec<serde_json::Value> = Vec::new();
        let mut next_event = async || loop {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            if let Some(json) = line.strip_prefix("data: ") {
                return serde_json::from_str::<serde_json::Value>(json).unwrap();
            }
        };
        // Replayed: the session's start, then the fault.
        events.push(next_event().await);
        events.push(next_event().await);
        assert_eq!(events[0]["kind"], "ready", "{events:?}");
        assert_eq!(events[1]["kind"], "fault");
        assert_eq!(events[1]["text"], "pause broker 3");
        // Live: the controller fences the frozen broker, then the repair arrives.
        let fenced = loop {
            let e = next_event().await;
            if e["kind"] == "broker_fenced" {
                break e;
            }
        };
        assert_eq!(fenced["broker"], 3);
        control.resume(3).await.unwrap();
        let resumed = loop {
            let e = next_event().await;
            if e["kind"] == "fault" {
                break e;
            }
        };
        assert_eq!(resumed["text"], "resume broker 3");
        assert!(resumed["seq"].as_u64() > fenced["seq"].as_u64());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_shows_the_cluster_and_what_the_backend_cannot_see() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let view = View::start(cluster.control(), Instant::now());
        let server = web::serve(Arc::clone(&view), 0).unwrap();
        let topic = unique("state");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let (status, body) = get(server.addr(), "/api/state").await;
        assert_eq!(status, 200);
        let state: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(state["backend"], "embedded");
        assert_eq!(state["cluster"]["brokers"].as_array().unwrap().len(), 3);
        let t = state["cluster"]["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == topic.as_str())
            .expect("the topic is in the state");
        assert_eq!(t["partitions"][0]["offsets"].as_array().unwrap().len(), 3);
        // The embedded backend sees everything but a client's blind spots are named.
        assert!(state["unseen"].as_array().unwrap().is_empty(), "{body}");
        let (status, page) = get(server.addr(), "/").await;
        assert_eq!(status, 200);
        assert!(page.contains("<script src=\"/page.js\""), "{page}");
        assert!(!page.contains("http://") && !page.contains("https://"));
    })
    .await;
}

/// What the open page follows: `/api/state` as server-sent events, one at once and then one
/// every 400 ms, so a fault shows in the next few.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_state_stream_sends_the_state_at_once_then_every_400_ms() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let view = View::start(cluster.control(), Instant::now());
        let server = web::serve(Arc::clone(&view), 0).unwrap();
        let topic = unique("stream");
        create_topic(&cluster, &topic, 2, 3, &[]).await;

        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"GET /api/state/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(stream).lines();
        let mut kinds = Vec::new();
        let mut next_state = async || loop {
            let line = tokio::time::timeout(Duration::from_secs(2), lines.next_line())
                .await
                .expect("a state within 2 s")
                .unwrap()
                .expect("the stream stays open");
            if let Some(kind) = line.strip_prefix("event: ") {
                kinds.push(kind.to_string());
            }
            if let Some(json) = line.strip_prefix("data: ") {
                return serde_json::from_str::<serde_json::Value>(json).unwrap();
            }
        };
        let asked = Instant::now();
        let first = next_state().await;
        assert!(
            asked.elapsed() < Duration::from_millis(300),
            "the first at once"
        );
        assert!(first["cluster"]["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == topic.as_str()));
        let second = next_state().await;
        let gap = second["now_ms"].as_u64().unwrap() - first["now_ms"].as_u64().unwrap();
        assert!((300..=1000).contains(&gap), "{gap} ms between states");

        view.control().kill(2).await.unwrap();
        let killed = Instant::now();
        let down = loop {
            let s = next_state().await;
            let b2 = s["cluster"]["brokers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["id"] == 2)
                .cloned()
                .unwrap();
            if b2["state"] == "down" {
                break killed.elapsed();
            }
        };
        assert!(
            down < Duration::from_secs(1),
            "the kill showed after {down:?}"
        );
        assert!(kinds.iter().all(|k| k == "state"), "{kinds:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_one_clear_line_and_no_web_prints_no_address() {
    bounded(async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let script = script_file("noop.rhai", "print(\"ran\");");
        let out = sandbox(&["run", script.to_str().unwrap(), "--web", &port]).await;
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(!stdout.contains("ran"), "{stdout}");
        let error = stderr.trim();
        assert_eq!(error.lines().count(), 1, "{stderr}");
        assert!(
            error.contains(&format!("cannot listen on 127.0.0.1:{port} for the view"))
                && error.contains("--no-web"),
            "{stderr}"
        );

        let out = sandbox(&["run", script.to_str().unwrap(), "--no-web"]).await;
        let (stdout, _) = text(&out);
        assert!(out.status.success());
        assert!(!stdout.contains("view: http"), "{stdout}");
        let out = sandbox(&["run", script.to_str().unwrap()]).await;
        let (stdout, _) = text(&out);
        assert!(stdout.contains("view: http://127.0.0.1:"), "{stdout}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_read_the_same_metrics_and_see_them_move_with_a_fault() {
    bounded(async {
        let out = run(
            "metrics.rhai",
            r#"
            create_topic("m", 3, 3);
            let p = producer();
            for i in 0..5 { p.send("m", `v${i}`); }
            let before = metrics();
            assert(before.UnderReplicatedPartitions == 0, "healthy at first");
            assert(before.MessagesIn >= 5, `MessagesIn ${before.MessagesIn}`);
            assert(before.brokers.len() == 3, "three brokers report");
            cluster.kill(2);
            assert(wait_until(|| metrics().UnderReplicatedPartitions > 0, 10000), "URP rises");
            let during = metrics();
            assert(!during.brokers.contains("2"), "a dead broker reports nothing");
            print(`UnderReplicatedPartitions went ${before.UnderReplicatedPartitions} → ${during.UnderReplicatedPartitions}`);
            "#,
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("UnderReplicatedPartitions went 0 → "),
            "{stdout}"
        );
    })
    .await;
}

/// On a backend that sees the cluster as a client does (child processes here), the view still
/// draws brokers and partitions, says what it cannot see, and serves the metrics it can count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_works_on_the_processes_backend_and_names_its_blind_spots() {
    bounded(async {
        let script = script_file(
            "view-processes.rhai",
            "create_topic(\"t\", 2, 3);\nprint(\"READY\");\nsleep(20000);\n",
        );
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
            .args(["run", script.to_str().unwrap(), "--cluster", "processes"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("binary runs");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let view = read_until(&mut lines, "view: http://", &mut seen).await;
        let addr: std::net::SocketAddr = view
            .trim()
            .trim_start_matches("view: http://")
            .parse()
            .expect("an address");
        read_until(&mut lines, "READY", &mut seen).await;
        let state = wait_for_async(
            "the view to see the topic",
            Duration::from_secs(10),
            || async {
                let (_, body) = get(addr, "/api/state").await;
                serde_json::from_str::<serde_json::Value>(&body).unwrap()
            },
            |s| {
                s["cluster"]["topics"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["name"] == "t"))
            },
        )
        .await;
        assert_eq!(state["backend"], "processes");
        assert_eq!(state["cluster"]["brokers"].as_array().unwrap().len(), 3);
        let unseen = state["unseen"].to_string();
        assert!(unseen.contains("log end offsets"), "{unseen}");
        let (status, metrics) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            metrics.contains("kafka_server_replicamanager_underreplicatedpartitions"),
            "{metrics}"
        );
        child.kill().await.unwrap();
    })
    .await;
}
