//! What a synchronous acks=all send costs through librdkafka — the script's client — as the
//! partition count grows, against the sandbox and, in the same run, against clusters that are
//! not the sandbox: librdkafka's mock cluster (3 brokers, RF 3, in this process) and Tansu
//! (1 broker, RF 1) when its binary is found. If the cost grows with the partition count on
//! every cluster alike, the growth is the client's, not the sandbox's: librdkafka's producer
//! visits every partition a broker leads on each pass of that broker's thread.
//!
//! The producer is configured as the script's `producer(#{acks: "all"})` is (`linger.ms=0`,
//! acks=all), and sends keyed one-record messages one at a time, each awaited.

use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{wire_send, workload, Tansu};

const TOPIC: &str = "client-send";
/// Sends timed, after as many untimed.
const SENDS: usize = 400;
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// A cluster the client sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The embedded sandbox, 3 brokers, RF 3.
    Sandbox,
    /// librdkafka's mock cluster, 3 brokers, RF 3.
    Mock,
    /// Tansu, 1 broker, RF 1.
    Tansu,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Sandbox => "sandbox, 3 brokers, RF 3",
            Target::Mock => "librdkafka mock, 3 brokers, RF 3",
            Target::Tansu => "Tansu, 1 broker, RF 1",
        }
    }
}

/// Mean milliseconds per send at `partitions` partitions on `target`.
pub fn mean_ms(target: Target, partitions: usize) -> Result<f64, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let partitions_i32 = i32::try_from(partitions).map_err(|e| e.to_string())?;
    match target {
        Target::Sandbox => runtime.block_on(async {
            let cluster = EmbeddedCluster::start(ClusterConfig::default())
                .await
                .map_err(|e| e.to_string())?;
            let outcome = async {
                let bootstrap = cluster.bootstrap();
                let create = bootstrap.clone();
                tokio::task::spawn_blocking(move || {
                    workload::create_topic_with(&create, TOPIC, partitions_i32, 3)
                })
                .await
                .map_err(|e| e.to_string())??;
                wire_send::wait_in_sync(&cluster, TOPIC, partitions).await?;
                measure(&bootstrap).await
            }
            .await;
            cluster.shutdown().await;
            outcome
        }),
        Target::Mock => {
            let mock = MockCluster::new(3).map_err(|e| e.to_string())?;
            mock.create_topic(TOPIC, partitions_i32, 3)
                .map_err(|e| e.to_string())?;
            runtime.block_on(measure(&mock.bootstrap_servers()))
        }
        Target::Tansu => {
            let binary = crate::tansu_binary().ok_or("no tansu binary")?;
            let tansu = Tansu::start(&binary)?;
            workload::create_topic_with(&tansu.bootstrap, TOPIC, partitions_i32, 1)?;
            runtime.block_on(measure(&tansu.bootstrap))
        }
    }
}

async fn measure(bootstrap: &str) -> Result<f64, String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(|e| e.to_string())?;
    let mut timed = Duration::ZERO;
    for i in 0..2 * SENDS {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let start = Instant::now();
        producer
            .send(
                FutureRecord::to(TOPIC).key(&key).payload(&value),
                SEND_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| format!("send {i}: {e}"))?;
        if i >= SENDS {
            timed += start.elapsed();
        }
    }
    Ok(timed.as_secs_f64() * 1000.0 / SENDS as f64)
}
