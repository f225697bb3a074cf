//! Consumers as separate processes, so that "kill" is a real crash.
//!
//! Each consumer the REPL starts is a child `kafka-sandbox consume …` running an ordinary
//! librdkafka consumer. It reports what happens as JSON lines on stdout (assigned, revoked,
//! message, error, closed) and obeys one command on stdin: `close` leaves the group cleanly,
//! like Ctrl-C on kcat. `kill()` sends SIGKILL: no LeaveGroup, no last heartbeat, so the
//! coordinator only finds out when the session times out — exactly the tutorial's crash.
//! If the parent disappears, the child sees end of input and closes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{ClientError, LiveEvent};

/// Where a consumer without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartFrom {
    /// Only messages produced from now on (kcat `-o end`, `auto.offset.reset=latest`).
    End,
    /// Everything in the topic (`auto.offset.reset=earliest`).
    Beginning,
}

impl StartFrom {
    /// Parses "end" / "beginning" (also "latest" / "earliest").
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        match s {
            "end" | "latest" => Ok(StartFrom::End),
            "beginning" | "earliest" | "start" => Ok(StartFrom::Beginning),
            other => Err(ClientError::Invalid(format!(
                "from: \"{other}\" is not a start position; use \"end\" or \"beginning\""
            ))),
        }
    }
}

/// Everything a consumer process needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerSpec {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Topic to read.
    pub topic: String,
    /// Consumer group; without one the consumer reads every partition on its own.
    pub group: Option<String>,
    /// Start position when nothing is committed.
    pub from: StartFrom,
    /// Client id (shows in DescribeGroups).
    pub client_id: String,
    /// Extra librdkafka settings.
    pub config: Vec<(String, String)>,
}

/// One line a consumer process reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Report {
    /// Partitions assigned in a rebalance.
    Assigned {
        /// Partitions.
        partitions: Vec<i32>,
    },
    /// Partitions revoked in a rebalance.
    Revoked {
        /// Partitions.
        partitions: Vec<i32>,
    },
    /// A message.
    Message {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Key, if any.
        key: Option<String>,
        /// Value.
        value: String,
    },
    /// A consumer error.
    Error {
        /// What librdkafka said.
        message: String,
    },
    /// Closed cleanly.
    Closed,
}

/// A message as a consumer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<String>,
    /// Value.
    pub value: String,
}

fn emit(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, report);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Reports rebalances and, for consumers that start from the end, pins the start position of
/// every newly assigned partition that has no committed offset: it is resolved to the log end
/// and committed before fetching starts, so messages produced right after the assignment (or
/// during a later rebalance) are never skipped by a late "latest" lookup.
struct Reporting {
    from_end: bool,
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
                _ => {
                    consumer
                        .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(5))
                        .ok()?
                        .1
                }
            };
            pinned
                .add_partition_offset(e.topic(), e.partition(), Offset::Offset(offset))
                .ok()?;
        }
        let _ = consumer.commit(&pinned, rdkafka::consumer::CommitMode::Sync);
        Some(pinned)
    }
}

impl ClientContext for Reporting {}
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
                let code: rdkafka::types::RDKafkaErrorCode = other.into();
                emit(&Report::Error {
                    message: format!("rebalance error: {code}"),
                });
                let _ = consumer.unassign();
            }
        }
    }
}

/// The child side: runs a consumer until `close` arrives on stdin (or stdin ends).
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
        );
    match &spec.group {
        Some(group) => config.set("group.id", group),
        None => config
            .set(
                "group.id",
                format!("kafka-sandbox-solo-{}", uuid::Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false"),
    };
    for (k, v) in &spec.config {
        config.set(k, v);
    }
    let consumer: BaseConsumer<Reporting> = config.create_with_context(Reporting {
        from_end: spec.from == StartFrom::End && spec.group.is_some(),
    })?;
    match &spec.group {
        Some(_) => consumer.subscribe(&[&spec.topic])?,
        None => {
            // No group: read every partition, like kcat without -G.
            let md = consumer.fetch_metadata(Some(&spec.topic), Duration::from_secs(10))?;
            let partitions: Vec<i32> = md
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            // "End" is resolved here, before reporting the assignment, so that anything
            // produced once the parent sees it is read.
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                let offset = match spec.from {
                    StartFrom::End => Offset::Offset(
                        consumer
                            .fetch_watermarks(&spec.topic, *p, Duration::from_secs(10))?
                            .1,
                    ),
                    StartFrom::Beginning => Offset::Beginning,
                };
                tpl.add_partition_offset(&spec.topic, *p, offset)?;
            }
            consumer.assign(&tpl)?;
            emit(&Report::Assigned { partitions });
        }
    }
    let closing = Arc::new(AtomicBool::new(false));
    let flag = closing.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) if l.trim() == "close" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        flag.store(true, Ordering::SeqCst);
    });
    while !closing.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(m)) => emit(&Report::Message {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            }),
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

#[derive(Debug, Default)]
struct Shared {
    received: Vec<Received>,
    assignment: BTreeSet<i32>,
    rebalances: usize,
    ended: bool,
}

/// The parent side of a consumer process.
pub struct ConsumerHandle {
    /// Label used in live output, e.g. `test-group/c2`.
    pub name: String,
    /// What it was started with.
    pub spec: ConsumerSpec,
    child: Mutex<Option<Child>>,
    stdin: Mutex<Option<ChildStdin>>,
    shared: Arc<Mutex<Shared>>,
    muted: Arc<AtomicBool>,
}

impl ConsumerHandle {
    /// Starts a consumer process running `exe consume`, forwarding its reports as live events.
    pub fn spawn(
        exe: &PathBuf,
        name: &str,
        spec: ConsumerSpec,
        live: Sender<LiveEvent>,
    ) -> Result<Self, ClientError> {
        let spec_json = serde_json::to_string(&spec).expect("specs serialize");
        let mut child = Command::new(exe)
            .args(["consume", "--spec", &spec_json])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                ClientError::Spawn(format!(
                    "cannot start a consumer process ({}): {e}",
                    exe.display()
                ))
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let muted = Arc::new(AtomicBool::new(false));
        let (state, mute, label) = (shared.clone(), muted.clone(), name.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(report) = serde_json::from_str::<Report>(&line) else {
                    continue;
                };
                {
                    let mut s = state.lock().expect("consumer state");
                    match &report {
                        Report::Assigned { partitions } => {
                            s.assignment.extend(partitions.iter().copied());
                            s.rebalances += 1;
                        }
                        Report::Revoked { partitions } => {
                            for p in partitions {
                                s.assignment.remove(p);
                            }
                            s.rebalances += 1;
                        }
                        Report::Message {
                            partition,
                            offset,
                            key,
                            value,
                        } => s.received.push(Received {
                            partition: *partition,
                            offset: *offset,
                            key: key.clone(),
                            value: value.clone(),
                        }),
                        Report::Error { .. } | Report::Closed => {}
                    }
                }
                if !mute.load(Ordering::SeqCst) {
                    let _ = live.send(LiveEvent::Consumer {
                        name: label.clone(),
                        report,
                    });
                }
            }
            let mut s = state.lock().expect("consumer state");
            s.ended = true;
            s.assignment.clear();
        });
        Ok(Self {
            name: name.to_string(),
            spec,
            child: Mutex::new(Some(child)),
            stdin: Mutex::new(stdin),
            shared,
            muted,
        })
    }

    /// Messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().expect("consumer state").received.clone()
    }

    /// Partitions currently owned.
    pub fn assignment(&self) -> BTreeSet<i32> {
        self.shared
            .lock()
            .expect("consumer state")
            .assignment
            .clone()
    }

    /// Number of assign/revoke callbacks seen.
    pub fn rebalances(&self) -> usize {
        self.shared.lock().expect("consumer state").rebalances
    }

    /// True once the process has ended.
    pub fn ended(&self) -> bool {
        self.shared.lock().expect("consumer state").ended
    }

    /// Stops (true) or resumes (false) printing this consumer's live output.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }

    /// Clean close: the consumer commits, leaves its group and exits. Falls back to a kill
    /// if it has not exited within `timeout`.
    pub fn close(&self, timeout: Duration) {
        if let Some(mut stdin) = self.stdin.lock().expect("stdin").take() {
            let _ = stdin.write_all(b"close\n");
        }
        let Some(mut child) = self.child.lock().expect("child").take() else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Crash: SIGKILL, no goodbye to the group.
    pub fn kill(&self) {
        self.stdin.lock().expect("stdin").take();
        if let Some(mut child) = self.child.lock().expect("child").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.close(Duration::from_secs(5));
    }
}
