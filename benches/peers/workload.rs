//! The workload every cluster in the comparison gets, through librdkafka (rust-rdkafka), the
//! same client settings for all: 100-byte messages to an 8-partition topic, produced flat out
//! with acks=all and `linger.ms=5`, then read back from the beginning by a consumer that assigns
//! every partition (with librdkafka's defaults, then with its fetch-queue backoff shortened to
//! [`SHORT_BACKOFF_MS`]) and by one that subscribes as a group member; and end-to-end latency at
//! a fixed moderate rate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 8;
/// Bytes of every message's value.
const SIZE: usize = 100;
/// The assigned consumer's second reading: `fetch.queue.backoff.ms` shortened from librdkafka's
/// 1000 ms, which is what bounds consuming from three brokers on two cores (docs/benchmarks.md).
const SHORT_BACKOFF_MS: &str = "10";
/// How long any one phase may take before the run is declared failed.
const PHASE_LIMIT: Duration = Duration::from_secs(180);

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub produce_mbs: f64,
    pub assign_mbs: f64,
    /// The same with `fetch.queue.backoff.ms` at [`SHORT_BACKOFF_MS`].
    pub assign_short_backoff_mbs: f64,
    pub group_mbs: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

/// Creates `topic` with the given replication factor (the mock cluster creates its own).
pub fn create_topic(bootstrap: &str, topic: &str, rf: i32) -> Result<(), String> {
    create_topic_with(bootstrap, topic, PARTITIONS, rf)
}

/// Creates `topic` with `partitions` partitions and waits until the metadata names a leader
/// for every one.
pub fn create_topic_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rf: i32,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(rf));
    let results = rt
        .block_on(admin.create_topics(&[new], &AdminOptions::new()))
        .map_err(|e| e.to_string())?;
    for r in results {
        r.map_err(|(t, e)| format!("creating {t}: {e}"))?;
    }
    // Every partition led in the metadata the cluster serves, before the producer asks.
    let t0 = Instant::now();
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| format!("metadata of {topic}: {e}"))?;
        let led = metadata.topics().iter().any(|t| {
            t.partitions().len() == partitions as usize
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if led {
            return Ok(());
        }
        if t0.elapsed() > PHASE_LIMIT {
            return Err(format!("{topic} has no leader for every partition"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Produces, consumes both ways and measures latency against `bootstrap`, using topics named
/// after `prefix` (which must already exist: `{prefix}-load` and `{prefix}-latency`).
pub fn run(bootstrap: &str, prefix: &str, messages: usize) -> Result<Figures, String> {
    let load = format!("{prefix}-load");
    let produce_secs = produce(bootstrap, &load, messages).map_err(|e| format!("produce: {e}"))?;
    let assign_secs = consume(bootstrap, &load, messages, false, None)
        .map_err(|e| format!("consume (assign): {e}"))?;
    let short_secs = consume(bootstrap, &load, messages, false, Some(SHORT_BACKOFF_MS))
        .map_err(|e| format!("consume (assign, short backoff): {e}"))?;
    let group_secs = consume(bootstrap, &load, messages, true, None)
        .map_err(|e| format!("consume (group): {e}"))?;
    let (p50, p99) =
        latency(bootstrap, &format!("{prefix}-latency")).map_err(|e| format!("latency: {e}"))?;
    let mb = (messages * SIZE) as f64 / 1e6;
    Ok(Figures {
        produce_mbs: mb / produce_secs,
        assign_mbs: mb / assign_secs,
        assign_short_backoff_mbs: mb / short_secs,
        group_mbs: mb / group_secs,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
    })
}

fn producer(bootstrap: &str) -> Result<BaseProducer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .map_err(|e| format!("producer: {e}"))
}

/// Flat out; returns the seconds from the first send to the last acknowledgement.
fn produce(bootstrap: &str, topic: &str, messages: usize) -> Result<f64, String> {
    let producer = producer(bootstrap)?;
    let payload = [b'x'; SIZE];
    let t0 = Instant::now();
    for i in 0..messages {
        let key = (i as u32).to_be_bytes();
        let mut record = BaseRecord::<_, _, ()>::to(topic)
            .key(&key[..])
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
            if t0.elapsed() > PHASE_LIMIT {
                return Err("producing took too long".into());
            }
        }
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(PHASE_LIMIT)
        .map_err(|e| format!("flush: {e}"))?;
    Ok(t0.elapsed().as_secs_f64())
}

/// A consumer with librdkafka's defaults, except `fetch.queue.backoff.ms` when `backoff` or
/// `BENCH_FETCH_QUEUE_BACKOFF_MS` sets it: how long librdkafka stops fetching a partition once
/// its queue of fetched messages (which, forwarded, is the whole consumer's) passes
/// `queued.min.messages` — 1000 ms by default, which is what bounds consuming from three
/// brokers on two cores (docs/benchmarks.md).
fn consumer(bootstrap: &str, group: &str, backoff: Option<&str>) -> Result<BaseConsumer, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    if let Some(ms) = backoff
        .map(str::to_string)
        .or_else(|| std::env::var("BENCH_FETCH_QUEUE_BACKOFF_MS").ok())
    {
        config.set("fetch.queue.backoff.ms", ms);
    }
    config.create().map_err(|e| format!("consumer: {e}"))
}

/// Reads `messages` from the beginning; returns the seconds it took. A group consumer's clock
/// starts when it subscribes, so the join and assignment are part of its figure.
fn consume(
    bootstrap: &str,
    topic: &str,
    messages: usize,
    group: bool,
    backoff: Option<&str>,
) -> Result<f64, String> {
    let name = format!(
        "{topic}-{}-{}",
        if group { "group" } else { "assign" },
        nanos()
    );
    let consumer = consumer(bootstrap, &name, backoff)?;
    let t0 = Instant::now();
    if group {
        consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
    } else {
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
    }
    let mut got = 0;
    while got < messages {
        if t0.elapsed() > PHASE_LIMIT {
            return Err(format!("consumed only {got} of {messages}"));
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            if m.payload().is_some() {
                got += 1;
            }
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Messages a second in the latency phase, and how long it runs.
const LATENCY_RATE: u64 = 10_000;
const LATENCY_SECS: u64 = 3;

/// Produces at a steady `LATENCY_RATE` while a consumer (assigned to every partition of the
/// fresh topic, from the beginning) reads; each value carries its send time, so the consumer
/// sees produce → consume time. Returns (p50, p99) in milliseconds.
fn latency(bootstrap: &str, topic: &str) -> Result<(f64, f64), String> {
    let consumer = consumer(bootstrap, &format!("{topic}-{}", nanos()), None)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    // The clock matters once the consumer is fetching: a probe must come back first.
    let probe = producer(bootstrap)?;
    probe
        .send(BaseRecord::<[u8], _, ()>::to(topic).payload(&b"probe"[..]))
        .map_err(|(e, _)| format!("probe: {e}"))?;
    probe
        .flush(Duration::from_secs(30))
        .map_err(|e| format!("probe: {e}"))?;
    let t0 = Instant::now();
    while !matches!(consumer.poll(Duration::from_millis(100)), Some(Ok(m)) if m.payload() == Some(&b"probe"[..]))
    {
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("the latency consumer never received its probe".into());
        }
    }
    let total = (LATENCY_RATE * LATENCY_SECS) as usize;
    let sender = {
        let bootstrap = bootstrap.to_string();
        let topic = topic.to_string();
        std::thread::spawn(move || -> Result<(), String> {
            let producer = producer(&bootstrap)?;
            let t0 = Instant::now();
            for i in 0..total as u64 {
                let due = t0 + Duration::from_nanos(i * 1_000_000_000 / LATENCY_RATE);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let mut value = nanos().to_be_bytes().to_vec();
                value.resize(SIZE, b'x');
                let record = BaseRecord::<[u8], _, ()>::to(&topic).payload(&value[..]);
                if producer.send(record).is_err() {
                    producer.poll(Duration::from_millis(1));
                }
                producer.poll(Duration::ZERO);
            }
            producer
                .flush(Duration::from_secs(30))
                .map_err(|e| format!("flush: {e}"))
        })
    };
    let mut delays = Vec::with_capacity(total);
    let t0 = Instant::now();
    while delays.len() < total && t0.elapsed() < Duration::from_secs(LATENCY_SECS + 30) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let Some(value) = m.payload() else { continue };
            let Ok(stamp) = <[u8; 16]>::try_from(&value[..16]) else {
                continue;
            };
            let sent = u128::from_be_bytes(stamp);
            delays.push(nanos().saturating_sub(sent) as f64 / 1e6);
        }
    }
    sender
        .join()
        .map_err(|_| "the latency producer panicked".to_string())??;
    if delays.len() < total * 9 / 10 {
        return Err(format!("latency: received {} of {total}", delays.len()));
    }
    delays.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize];
    Ok((at(0.50), at(0.99)))
}
