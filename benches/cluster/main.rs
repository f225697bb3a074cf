//! Cluster benchmarks behind docs/benchmarks.md: start-up to a cluster that accepts
//! CreateTopics, failover time after killing a leader, acks=all produce throughput on RF 3
//! with librdkafka, and resident memory of an idle `kafka-sandbox serve`.
//!
//! Run with `cargo bench --bench cluster`. Set `BENCH_MESSAGES` to change the produce count.

mod backends;
mod failover;
mod group;
mod memory;
mod repl;
mod startup;
mod throughput;
mod view;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use backends::backends;
use failover::failover;
use group::group_takeover;
use memory::idle_rss_mb;
use repl::repl_figures;
use startup::startup;
use throughput::throughput;
use view::view_figures;

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
