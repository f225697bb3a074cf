//! Produce throughput: 100-byte messages with acks=all on RF 3, as fast as librdkafka sends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::create;

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

pub async fn throughput(messages: u64) -> (f64, f64) {
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
pub async fn produce_flat_out(bootstrap: String, messages: u64) -> (f64, f64) {
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
