//! Exactly once under faults: a consume-transform-produce loop in transactions (librdkafka's
//! transactional producer, a read_committed group consumer, offsets sent to each transaction)
//! runs while a nemesis kills and restarts brokers at random, aiming each kill at a moment a
//! transaction is open (and the test fails unless one landed so). However often a transaction
//! fails and is retried, every input record must be reflected exactly once in the committed
//! output.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::util::*;

const INPUTS: usize = 600;
const PARTITIONS: i32 = 3;
const TXN_CALL: Duration = Duration::from_secs(15);

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

fn txn_producer(cluster: &TestCluster, id: &str) -> TxnProducer {
    let producer: TxnProducer = client_config(cluster)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "20000")
        .set("message.timeout.ms", "15000")
        .set("linger.ms", "5")
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(TXN_CALL)
        .expect("init_transactions");
    producer
}

fn pipeline_consumer(cluster: &TestCluster, group: &str, input: &str) -> BaseConsumer {
    let consumer: BaseConsumer = client_config(cluster)
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[input]).expect("subscribe");
    consumer
}

/// One batch: read what is there, write its transformations and the consumer's positions in
/// one transaction. `Ok(n)`: n records processed (0: nothing to read). `open` is true from
/// `begin` until the transaction is committed or this returns, so the nemesis can tell which of
/// its kills landed inside a transaction.
fn one_transaction(
    consumer: &BaseConsumer,
    producer: &TxnProducer,
    output: &str,
    open: &AtomicBool,
) -> Result<usize, String> {
    let outcome = transaction_body(consumer, producer, output, open);
    open.store(false, Ordering::SeqCst);
    outcome
}

fn transaction_body(
    consumer: &BaseConsumer,
    producer: &TxnProducer,
    output: &str,
    open: &AtomicBool,
) -> Result<usize, String> {
    let mut batch = Vec::new();
    let until = Instant::now() + Duration::from_millis(300);
    while batch.len() < 10 && Instant::now() < until {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => batch.push((
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => return Err(format!("poll: {e}")),
            None => {}
        }
    }
    if batch.is_empty() {
        return Ok(0);
    }
    producer
        .begin_transaction()
        .map_err(|e| format!("begin: {e}"))?;
    open.store(true, Ordering::SeqCst);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (partition, offset, value) in &batch {
        let out = format!("out-{value}");
        producer
            .send(BaseRecord::<str, str>::to(output).payload(&out).key(value))
            .map_err(|(e, _)| format!("send: {e}"))?;
        next.insert(*partition, offset + 1);
    }
    // The application's own work: long enough that kills land inside transactions.
    std::thread::sleep(Duration::from_millis(40));
    let mut offsets = TopicPartitionList::new();
    for (partition, offset) in &next {
        offsets
            .add_partition_offset(&batch_topic(consumer), *partition, Offset::Offset(*offset))
            .map_err(|e| e.to_string())?;
    }
    let metadata = consumer
        .group_metadata()
        .ok_or("the consumer has no group metadata")?;
    producer
        .send_offsets_to_transaction(&offsets, &metadata, TXN_CALL)
        .map_err(|e| format!("send_offsets: {e}"))?;
    producer
        .commit_transaction(TXN_CALL)
        .map_err(|e| format!("commit: {e}"))?;
    Ok(batch.len())
}

/// The one topic the consumer subscribes to.
fn batch_topic(consumer: &BaseConsumer) -> String {
    consumer
        .subscription()
        .ok()
        .and_then(|s| s.elements().first().map(|e| e.topic().to_string()))
        .unwrap_or_default()
}

/// How far the group has committed on `input`, in records.
fn committed_total(consumer: &BaseConsumer, input: &str) -> i64 {
    let mut wanted = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        wanted.add_partition(input, p);
    }
    consumer
        .committed_offsets(wanted, Duration::from_secs(5))
        .map(|list| {
            list.elements()
                .iter()
                .filter_map(|e| e.offset().to_raw())
                .filter(|o| *o > 0)
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transactional_pipeline_under_broker_kills_outputs_every_input_exactly_once() {
    // Longer than the usual bound: every kill costs the pipeline a failover or two.
    let run = tokio::time::timeout(Duration::from_secs(240), async {
        let cluster = Arc::new(TestCluster::start(3).await);
        let input = unique("eos-in");
        let output = unique("eos-out");
        create_topic(&cluster, &input, PARTITIONS, 3, &[]).await;
        create_topic(&cluster, &output, PARTITIONS, 3, &[]).await;
        let feeder = producer(&cluster, "all");
        for i in 0..INPUTS {
            send(&feeder, &input, &format!("k{i}"), &format!("in-{i}"))
                .await
                .expect("the input is written");
        }

        // The nemesis: kill a random broker, wait, start it again; one down at a time. It counts
        // the kills that landed while the pipeline had a transaction open.
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicBool::new(false));
        let nemesis = {
            let (cluster, stop, open) = (cluster.clone(), stop.clone(), open.clone());
            tokio::spawn(async move {
                let (mut kills, mut inside) = (0, 0);
                let mut seed = std::process::id() as u64;
                // Enough faults to land in transactions many times over, few enough that the
                // pipeline then finishes in good time.
                while !stop.load(Ordering::SeqCst) && kills < 8 {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let victim = 1 + (seed >> 33) as i32 % 3;
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    // Aim: strike while a transaction is open (or give up waiting after 2 s).
                    let aim = Instant::now() + Duration::from_secs(2);
                    while !open.load(Ordering::SeqCst) && Instant::now() < aim {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    let during = open.load(Ordering::SeqCst);
                    if cluster.control().kill(victim).await.is_ok() {
                        kills += 1;
                        inside += usize::from(during);
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        let _ = cluster.control().start(victim).await;
                    }
                }
                (kills, inside)
            })
        };

        let pipeline = {
            let (cluster, input, output) = (cluster.clone(), input.clone(), output.clone());
            let open = open.clone();
            tokio::task::spawn_blocking(move || {
                let group = unique("eos-group");
                let id = unique("eos-app");
                let mut consumer = pipeline_consumer(&cluster, &group, &input);
                let mut producer = txn_producer(&cluster, &id);
                let (mut committed, mut failures) = (0usize, 0usize);
                let deadline = Instant::now() + Duration::from_secs(150);
                loop {
                    assert!(
                        Instant::now() < deadline,
                        "the pipeline did not finish: {committed} records committed, {failures} transactions failed"
                    );
                    match one_transaction(&consumer, &producer, &output, &open) {
                        Ok(0) => {
                            if committed_total(&consumer, &input) >= INPUTS as i64 {
                                return (committed, failures);
                            }
                        }
                        Ok(n) => committed += n,
                        Err(why) => {
                            // As an application should: abort (or, fenced or fatal, start a
                            // new producer, which aborts for us), then rewind the consumer
                            // to what the group committed by starting a new one.
                            failures += 1;
                            eprintln!(
                                "transaction failed ({why}); retrying from the committed offsets"
                            );
                            if producer.abort_transaction(TXN_CALL).is_err() {
                                drop(producer);
                                producer = txn_producer(&cluster, &id);
                            }
                            drop(consumer);
                            consumer = pipeline_consumer(&cluster, &group, &input);
                        }
                    }
                }
            })
        };
        let (committed, failures) = pipeline.await.expect("the pipeline ran");
        stop.store(true, Ordering::SeqCst);
        let (kills, inside) = nemesis.await.expect("the nemesis ran");
        for id in 1..=3 {
            let _ = cluster.control().start(id).await;
        }
        eprintln!("{kills} broker kills, {inside} of them inside an open transaction; {failures} transactions failed and were retried; {committed} records processed in committed or aborted batches");
        assert!(
            inside >= 1,
            "a kill landed inside an open transaction ({kills} kills, none did)"
        );

        let mut reader = client_config(&cluster);
        reader
            .set("group.id", unique("eos-reader"))
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let values = tokio::task::spawn_blocking({
            let output = output.clone();
            move || {
                let consumer: BaseConsumer = reader.create().expect("reader");
                consumer.subscribe(&[&output]).expect("subscribe");
                let mut values = Vec::new();
                let mut quiet_since = Instant::now();
                let deadline = Instant::now() + Duration::from_secs(60);
                while quiet_since.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                        values.push(
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                        );
                        quiet_since = Instant::now();
                    }
                }
                values
            }
        })
        .await
        .expect("read back");
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for v in &values {
            *counts.entry(v.clone()).or_default() += 1;
        }
        let twice: Vec<&String> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(v, _)| v)
            .collect();
        let missing: Vec<String> = (0..INPUTS)
            .map(|i| format!("out-in-{i}"))
            .filter(|v| !counts.contains_key(v))
            .collect();
        assert!(
            twice.is_empty() && missing.is_empty() && values.len() == INPUTS,
            "{} outputs for {INPUTS} inputs; twice: {twice:?}; missing: {missing:?}",
            values.len()
        );
    });
    run.await
        .expect("the exactly-once test finishes within 240 s");
}
