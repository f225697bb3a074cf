//! The script producer: one librdkafka producer; `send` waits for the acknowledgement and
//! returns where the message landed, or the Kafka error.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::ClientError;

/// Producer settings a script can pass.
#[derive(Debug, Clone)]
pub(crate) struct ProducerOptions {
    /// "all", "1" or "0".
    pub acks: String,
    /// enable.idempotence.
    pub idempotence: bool,
    /// Give up on a message after this long (message.timeout.ms).
    pub timeout: Duration,
    /// Extra librdkafka settings.
    pub config: Vec<(String, String)>,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            acks: "all".into(),
            idempotence: false,
            timeout: Duration::from_secs(10),
            config: Vec::new(),
        }
    }
}

/// A producer.
pub(crate) struct SandboxProducer {
    inner: FutureProducer,
    timeout: Duration,
}

impl SandboxProducer {
    /// Creates a producer for `bootstrap`.
    pub fn new(bootstrap: &str, options: &ProducerOptions) -> Result<Self, ClientError> {
        if !matches!(options.acks.as_str(), "all" | "-1" | "1" | "0") {
            return Err(ClientError::Acks(options.acks.clone()));
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("acks", &options.acks)
            .set("enable.idempotence", options.idempotence.to_string())
            .set(
                "message.timeout.ms",
                options.timeout.as_millis().to_string(),
            )
            .set(
                "request.timeout.ms",
                options.timeout.as_millis().min(5000).to_string(),
            )
            .set("linger.ms", "0")
            .set("topic.metadata.refresh.interval.ms", "1000")
            // librdkafka finds timed-out messages of a dead leader only when that broker's
            // connection thread wakes from its reconnect back-off (up to 10 s by default):
            // a shorter back-off keeps `timeout_ms` what it says.
            .set("reconnect.backoff.max.ms", "500");
        for (k, v) in &options.config {
            config.set(k, v);
        }
        Ok(Self {
            inner: config.create()?,
            timeout: options.timeout,
        })
    }

    /// Sends one message and waits for the broker's answer: (partition, offset).
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&str>,
        value: &str,
    ) -> Result<(i32, i64), ClientError> {
        let mut record = FutureRecord::to(topic).payload(value);
        if let Some(k) = key {
            record = record.key(k);
        }
        self.inner
            .send(record, self.timeout)
            .await
            .map(|d| (d.partition, d.offset))
            .map_err(|(e, _)| ClientError::Kafka(e))
    }
}
