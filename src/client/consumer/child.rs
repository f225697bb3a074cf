//! The child side of a consumer: an ordinary librdkafka consumer that reports what happens as
//! JSON lines on stdout and obeys `close` on stdin.
//!
//! End of input means the parent is gone (it died, or was killed): the child exits at once,
//! without the commit and LeaveGroup of a clean close, which could only wait for a cluster
//! that went down with the parent. `PR_SET_PDEATHSIG` (see [`crate::child`]) usually kills
//! it even sooner.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{CommitPolicy, ConsumerSpec, Report, StartFrom};
use crate::client::watermarks::high_watermark;
use crate::client::ClientError;

/// A lost connection is reported once; more failures for the same broker within this window
/// are the client's own reconnect attempts and are not news.
const RECONNECT_QUIET: Duration = Duration::from_secs(10);

fn emit(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, report);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The broker id in a librdkafka broker name such as `127.0.0.1:9093/2` (none for the
/// `…/bootstrap` names used before metadata is known).
fn broker_in(message: &str) -> Option<i32> {
    let name = message.split(": ").next()?;
    name.rsplit('/').next()?.parse().ok()
}

/// Remembers when each broker's lost connection was last reported (key `None`: a broker the
/// client did not name).
#[derive(Default)]
struct Connections {
    reported: Mutex<HashMap<Option<i32>, Instant>>,
}

impl Connections {
    /// Reports a lost connection unless this broker's loss is already known.
    fn lost(&self, broker: Option<i32>) {
        let now = Instant::now();
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let recent = |at: &Instant| now.duration_since(*at) < RECONNECT_QUIET;
        let known = match broker {
            Some(_) => reported.get(&broker).is_some_and(recent),
            // An unnamed failure adds nothing to a named one just reported.
            None => reported.values().any(recent),
        };
        reported.insert(broker, now);
        if !known {
            emit(&Report::Disconnected { broker });
        }
    }
}

/// Reports rebalances and lost connections, and, for consumers that start from the end, pins
/// the start position of every newly assigned partition that has no committed offset: it is
/// resolved to the log end and committed before fetching starts, so messages produced right
/// after the assignment (or during a later rebalance) are never skipped by a late "latest"
/// lookup.
struct Reporting {
    from_end: bool,
    connections: Connections,
}

impl Reporting {
    fn pin_end_offsets(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> Option<TopicPartitionList> {
        if !self.from_end || tpl.count() == 0 {
            return None;
        }
        let committed = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .ok()?;
        let mut pinned = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) if o >= 0 => o,
                _ => high_watermark(consumer, e.topic(), e.partition(), Duration::from_secs(5))
                    .ok()?,
            };
            pinned
                .add_partition_offset(e.topic(), e.partition(), Offset::Offset(offset))
                .ok()?;
        }
        let _ = consumer.commit(&pinned, rdkafka::consumer::CommitMode::Sync);
        Some(pinned)
    }
}

impl ClientContext for Reporting {
    /// librdkafka logs every broker connection it loses ("127.0.0.1:9093/2: Disconnected …",
    /// "… Connect to … failed"); that is the only place that names the broker.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let serious = matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        );
        if serious && fac == "FAIL" {
            self.connections.lost(broker_in(message));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_transport(&error) {
            self.connections.lost(broker_in(reason));
        } else {
            emit(&Report::Error {
                message: format!("{error}: {reason}"),
            });
        }
    }
}

/// True for errors that only mean a broker connection dropped: the client reconnects and
/// finds the new leaders by itself, so they are news, not failures.
fn is_transport(error: &KafkaError) -> bool {
    let code = match error {
        KafkaError::MessageConsumption(code) | KafkaError::Global(code) => *code,
        _ => return false,
    };
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
    )
}

impl ConsumerContext for Reporting {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::consumer::RebalanceProtocol;
        use rdkafka::types::RDKafkaRespErr;
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let pinned = self.pin_end_offsets(consumer, tpl);
                let list = pinned.as_ref().unwrap_or(tpl);
                let result = if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                };
                if let Err(e) = result {
                    emit(&Report::Error {
                        message: format!("assign failed: {e}"),
                    });
                }
                emit(&Report::Assigned { partitions });
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                emit(&Report::Revoked { partitions });
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    emit(&Report::Error {
                        message: format!("unassign failed: {e}"),
                    });
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                emit(&Report::Error {
                    message: format!("rebalance error: {code}"),
                });
                let _ = consumer.unassign();
            }
        }
    }
}

/// The child side: runs a consumer until `close` arrives on stdin, or stdin ends.
pub fn run_child(spec: ConsumerSpec) -> Result<(), ClientError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &spec.bootstrap)
        .set("client.id", &spec.client_id)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.commit.interval.ms", "500")
        // librdkafka's default is 500 ms; a shorter long poll lets partitions taken over in a
        // rebalance start flowing sooner, which is what a learner watches for.
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set(
            "auto.offset.reset",
            if spec.from == StartFrom::End {
                "latest"
            } else {
                "earliest"
            },
        )
        // Lost connections are found in the log (see `Reporting::log`).
        .set_log_level(RDKafkaLogLevel::Warning);
    match &spec.group {
        Some(group) => config.set("group.id", group),
        None => config
            .set(
                "group.id",
                format!("kafka-sandbox-solo-{}", uuid::Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false"),
    };
    if spec.commit != CommitPolicy::Auto {
        config.set("enable.auto.commit", "false");
    }
    if spec.commit == CommitPolicy::After {
        // Otherwise the position of a message still being processed is stored when poll
        // returns it, and a clean close would commit it unprocessed.
        config.set("enable.auto.offset.store", "false");
    }
    for (k, v) in &spec.config {
        config.set(k, v);
    }
    let consumer: BaseConsumer<Reporting> = config.create_with_context(Reporting {
        from_end: spec.from == StartFrom::End && spec.group.is_some(),
        connections: Connections::default(),
    })?;
    match &spec.group {
        Some(_) => consumer.subscribe(&[&spec.topic])?,
        None => assign_every_partition(&consumer, &spec)?,
    }
    let closing = Arc::new(AtomicBool::new(false));
    let flag = closing.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "close" => {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // End of input: the parent is gone. Nobody is left to report to, and a commit could
        // only wait for a cluster that went down with it.
        std::process::exit(0);
    });
    while !closing.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(m)) => {
                let report = Report::Message {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                };
                let next = (m.topic().to_string(), m.partition(), m.offset() + 1);
                drop(m);
                if spec.commit == CommitPolicy::Before {
                    commit_position(&consumer, &next);
                }
                if !process(spec.processing, &closing) {
                    // Closed mid-processing: the message was never handled.
                    break;
                }
                emit(&report);
                if spec.commit == CommitPolicy::After {
                    commit_position(&consumer, &next);
                }
            }
            Some(Err(e)) if is_transport(&e) => consumer.context().connections.lost(None),
            Some(Err(e)) => emit(&Report::Error {
                message: e.to_string(),
            }),
            None => {}
        }
    }
    if spec.group.is_some() {
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
        consumer.unsubscribe();
    }
    drop(consumer);
    emit(&Report::Closed);
    Ok(())
}

/// The application's work on one message: `time` of it, cut short (returning false) when the
/// consumer is asked to close.
fn process(time: Duration, closing: &AtomicBool) -> bool {
    let until = Instant::now() + time;
    while Instant::now() < until {
        if closing.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
    }
    true
}

/// Commits `(topic, partition, next offset)` synchronously; a failure is reported, not fatal
/// (the next commit covers it, or the group reads the message again).
fn commit_position(
    consumer: &BaseConsumer<Reporting>,
    (topic, partition, next): &(String, i32, i64),
) {
    let mut tpl = TopicPartitionList::new();
    let added = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    let result = added.and_then(|_| consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync));
    if let Err(e) = result {
        emit(&Report::Error {
            message: format!("commit of {topic}-{partition} at {next} failed: {e}"),
        });
    }
}

/// No group: read every partition, like kcat without -G. "End" is resolved here, before
/// reporting the assignment, so that anything produced once the parent sees it is read.
fn assign_every_partition(
    consumer: &BaseConsumer<Reporting>,
    spec: &ConsumerSpec,
) -> Result<(), ClientError> {
    let md = consumer.fetch_metadata(Some(&spec.topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let offset = match spec.from {
            StartFrom::End => Offset::Offset(high_watermark(
                consumer,
                &spec.topic,
                *p,
                Duration::from_secs(10),
            )?),
            StartFrom::Beginning => Offset::Beginning,
        };
        tpl.add_partition_offset(&spec.topic, *p, offset)?;
    }
    consumer.assign(&tpl)?;
    emit(&Report::Assigned { partitions });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_ids_come_from_librdkafka_broker_names() {
        assert_eq!(
            broker_in("127.0.0.1:9093/2: Disconnected (after 1234ms in state UP)"),
            Some(2)
        );
        assert_eq!(
            broker_in("127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed"),
            None
        );
        assert_eq!(broker_in("kafka-3:19092/3: Connection refused"), Some(3));
    }
}
