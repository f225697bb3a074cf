//! The script producer: one librdkafka producer; `send` waits for the acknowledgement and
//! returns where the message landed, or the Kafka error.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::ClientError;

/// How long `commit()` and `abort()` keep resuming a call that timed out.
const END_LIMIT: Duration = Duration::from_secs(60);

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
    /// transactional.id: the producer runs transactions (and is idempotent).
    pub transactional_id: Option<String>,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            acks: "all".into(),
            idempotence: false,
            timeout: Duration::from_secs(10),
            config: Vec::new(),
            transactional_id: None,
        }
    }
}

/// A producer.
pub(crate) struct SandboxProducer {
    inner: FutureProducer,
    timeout: Duration,
    transactional: bool,
    /// For `send_offsets`: librdkafka takes a group's identity from a consumer of the group,
    /// so one that never subscribes stands in for each group named.
    groups: Mutex<HashMap<String, BaseConsumer>>,
    bootstrap: String,
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
            // A transactional producer is always idempotent (librdkafka insists, as Kafka does).
            .set(
                "enable.idempotence",
                (options.idempotence || options.transactional_id.is_some()).to_string(),
            )
            .set(
                "message.timeout.ms",
                options.timeout.as_millis().to_string(),
            )
            .set(
                "request.timeout.ms",
                options.timeout.as_millis().min(5000).to_string(),
            )
            // Any request (metadata too) to a broker that stopped answering without closing
            // its connections — a paused process or container — is given up after as long as
            // a produce request, so the producer asks another broker where the leaders went
            // (librdkafka waits 60 s by default).
            .set(
                "socket.timeout.ms",
                options.timeout.as_millis().clamp(1000, 5000).to_string(),
            )
            .set("linger.ms", "0")
            .set("topic.metadata.refresh.interval.ms", "1000")
            // librdkafka finds timed-out messages of a dead leader only when that broker's
            // connection thread wakes from its reconnect back-off (up to 10 s by default):
            // a shorter back-off keeps `timeout_ms` what it says.
            .set("reconnect.backoff.max.ms", "500")
            // A killed container's address stops answering rather than refusing: give up on a
            // connection attempt after 5 s (librdkafka waits 30 s), so a coordinator or leader
            // that moved is found again in lesson time.
            .set("socket.connection.setup.timeout.ms", "5000");
        if let Some(id) = &options.transactional_id {
            config.set("transactional.id", id);
        }
        for (k, v) in &options.config {
            config.set(k, v);
        }
        let inner: FutureProducer = config.create()?;
        if options.transactional_id.is_some() {
            // Registers the transactional id with its coordinator, fencing any older producer
            // with the same id and ending the transaction it left open.
            inner.init_transactions(options.timeout.max(Duration::from_secs(10)))?;
        }
        Ok(Self {
            inner,
            timeout: options.timeout,
            transactional: options.transactional_id.is_some(),
            groups: Mutex::default(),
            bootstrap: bootstrap.to_string(),
        })
    }

    fn transactional(&self) -> Result<&FutureProducer, ClientError> {
        if self.transactional {
            Ok(&self.inner)
        } else {
            Err(ClientError::NotTransactional)
        }
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Result<(), ClientError> {
        Ok(self.transactional()?.begin_transaction()?)
    }

    /// Commits the transaction: flushes its sends, then asks the coordinator to commit.
    pub fn commit(&self) -> Result<(), ClientError> {
        let producer = self.transactional()?;
        self.until_ended(|timeout| producer.commit_transaction(timeout))
    }

    /// Aborts the transaction.
    pub fn abort(&self) -> Result<(), ClientError> {
        let producer = self.transactional()?;
        self.until_ended(|timeout| producer.abort_transaction(timeout))
    }

    /// Calls `end` again while librdkafka says the call timed out but may be resumed (a
    /// coordinator moving after its broker died can take longer than one call's timeout, e.g.
    /// while connections to a killed container time out), for at most [`END_LIMIT`].
    fn until_ended(
        &self,
        end: impl Fn(Duration) -> rdkafka::error::KafkaResult<()>,
    ) -> Result<(), ClientError> {
        let deadline = std::time::Instant::now() + END_LIMIT;
        loop {
            match end(self.txn_timeout()) {
                Err(rdkafka::error::KafkaError::Transaction(e))
                    if e.is_retriable() && std::time::Instant::now() < deadline =>
                {
                    tracing::debug!("transaction end will be retried: {e}");
                }
                other => return Ok(other?),
            }
        }
    }

    /// Adds `group`'s offsets `(topic, partition, next offset to read)` to the transaction,
    /// committed with it.
    pub fn send_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ClientError> {
        let producer = self.transactional()?;
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        let mut groups = self.groups.lock().expect("groups lock");
        let member = match groups.entry(group.to_string()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                ClientConfig::new()
                    .set("bootstrap.servers", &self.bootstrap)
                    .set("group.id", group)
                    .create()?,
            ),
        };
        let metadata = member
            .group_metadata()
            .ok_or_else(|| ClientError::EmptyAnswer(format!("group {group}")))?;
        Ok(producer.send_offsets_to_transaction(&list, &metadata, self.txn_timeout())?)
    }

    fn txn_timeout(&self) -> Duration {
        self.timeout.max(Duration::from_secs(10))
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
