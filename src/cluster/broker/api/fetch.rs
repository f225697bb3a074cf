//! Fetch, for consumers and followers alike. Consumers read up to the high watermark;
//! followers (a replica id in the request) read up to the log end, and their fetch offset is
//! how the leader learns their progress ([`Partition::record_follower_fetch`]), which moves the
//! high watermark — completing acks=all produces waiting on it — and decides ISR membership.
//! With too little data the request waits up to `max_wait_ms` for more. Clients that open an
//! incremental fetch session ([`super::super::fetch_session`]) list and get back only what
//! changed.
//!
//! [`Partition::record_follower_fetch`]: crate::cluster::broker::partition::Partition::record_follower_fetch

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::fetch_session::{FetchSessions, Key, Mode, Sent, Wanted};
use crate::cluster::broker::partition::{Partition, Reading};
use crate::cluster::broker::Broker;

pub async fn handle(broker: &Broker, r: FetchRequest, version: i16) -> FetchResponse {
    let replica_id = if version >= 15 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    let sessions = broker.fetch_sessions();
    let follower = (replica_id >= 0).then_some(replica_id);
    let (mode, wanted) = match sessions.open(&r, version, follower, Instant::now()) {
        Ok(opened) => opened,
        Err(code) => return FetchResponse::default().with_error_code(code.code()),
    };
    let reader = Reader {
        broker,
        replica_id,
        // One clock reading for the request's progress records, not one per partition.
        now: Instant::now(),
        // Whether the controller counts the follower in the cluster: one look per request.
        alive: follower.is_some_and(|id| broker.image().is_alive(id)),
        max_bytes: r.max_bytes,
        isolation_level: r.isolation_level,
    };
    let deadline = Instant::now() + Duration::from_millis(r.max_wait_ms.max(0) as u64);
    let mut changes = broker.watch_data();
    let lookup = || {
        let generation = broker.roles_generation();
        let keys = wanted.iter().map(|((t, i), _)| (&**t, *i));
        (generation, broker.partitions_of(keys))
    };
    let (mut generation, mut partitions) = lookup();
    let incremental = matches!(mode, Mode::Incremental { .. });
    let min_bytes = r.min_bytes.max(0) as usize;
    let mut first = true;
    let mut seen: Option<Vec<Option<Mark>>> = None;
    // An incremental session's partitions with something to say, gathered over the passes.
    let mut news: BTreeMap<usize, PartitionData> = BTreeMap::new();
    loop {
        changes.borrow_and_update();
        if broker.roles_generation() != generation {
            (generation, partitions) = lookup();
            seen = None;
        }
        // A long poll wakes on any change in the broker; re-reading thousands of partitions
        // is only worth it when one of this request's moved, and in an incremental session
        // only the ones that moved need reading again.
        let marks: Vec<Option<Mark>> = partitions.iter().map(|p| p.as_ref().map(mark)).collect();
        let due = Instant::now() >= deadline;
        let moved: Vec<usize> = match &seen {
            None => (0..wanted.len()).collect(),
            Some(old) if incremental => (0..marks.len()).filter(|&i| old[i] != marks[i]).collect(),
            Some(old) if due || *old != marks => (0..wanted.len()).collect(),
            Some(_) => Vec::new(),
        };
        if !incremental && !moved.is_empty() {
            let pass = reader.read(&wanted, &partitions, moved.into_iter(), first, 0);
            if pass.errors || pass.bytes >= min_bytes || due {
                let read = pass.partitions.into_iter().map(|(_, data)| data).collect();
                return respond(sessions, mode, &wanted, read);
            }
        } else if incremental {
            let used: usize = news.values().map(record_bytes).sum();
            let pass = reader.read(&wanted, &partitions, moved.into_iter(), first, used);
            for (i, data) in pass.partitions {
                if has_news(&data, wanted[i].1.sent()) {
                    news.insert(i, data);
                }
            }
            let bytes: usize = news.values().map(record_bytes).sum();
            let errors = news.values().any(|d| d.error_code != 0);
            if errors || bytes >= min_bytes || due {
                let (keys, read): (Vec<(Key, Wanted)>, Vec<PartitionData>) = news
                    .into_iter()
                    .map(|(i, data)| (wanted[i].clone(), data))
                    .unzip();
                return respond(sessions, mode, &keys, read);
            }
        }
        first = false;
        seen = Some(marks);
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

fn record_bytes(data: &PartitionData) -> usize {
    data.records.as_ref().map_or(0, Bytes::len)
}

/// Whether an incremental session's client needs to hear about a partition: records, an
/// error, or a high watermark or log start it has not been told.
fn has_news(data: &PartitionData, sent: Option<Sent>) -> bool {
    carries_data(data) || sent != Some(reported(data))
}

/// Records or an error: always worth a response.
fn carries_data(data: &PartitionData) -> bool {
    data.error_code != 0 || record_bytes(data) > 0
}

/// The partition-level facts a response reports, as a session remembers them.
fn reported(data: &PartitionData) -> Sent {
    Sent {
        high_watermark: data.high_watermark,
        log_start_offset: data.log_start_offset,
    }
}

/// What a waiting fetch compares between wake-ups: log start, log end and high watermark.
type Mark = (i64, i64, i64);

fn mark(partition: &Arc<Partition>) -> Mark {
    let log = partition.log();
    (
        log.log_start_offset(),
        log.log_end_offset(),
        log.high_watermark(),
    )
}

/// What one pass over the wanted partitions read.
struct Pass {
    /// (position in the wanted list, what was read).
    partitions: Vec<(usize, PartitionData)>,
    bytes: usize,
    errors: bool,
}

/// One request's reader: who is asking and how much it may get.
struct Reader<'a> {
    broker: &'a Broker,
    replica_id: i32,
    /// When the request came: the time of the follower's progress records.
    now: Instant,
    alive: bool,
    max_bytes: i32,
    /// 0: read_uncommitted, 1: read_committed.
    isolation_level: i8,
}

impl Reader<'_> {
    /// Reads the wanted partitions at positions `which`; on the request's first pass a
    /// follower's fetch offsets also record its progress. `used` bytes of the request's
    /// `max_bytes` went to earlier passes.
    fn read(
        &self,
        wanted: &[(Key, Wanted)],
        partitions: &[Option<Arc<Partition>>],
        which: impl Iterator<Item = usize>,
        record_progress: bool,
        used: usize,
    ) -> Pass {
        let mut budget = if self.max_bytes > 0 {
            (self.max_bytes as usize).saturating_sub(used).max(1)
        } else {
            usize::MAX
        };
        let mut bytes = 0usize;
        let mut errors = false;
        let mut high_watermark_moved = false;
        let read = which
            .map(|i| {
                let (key, w) = &wanted[i];
                let partition = &partitions[i];
                let (out, moved) = self.read_partition(key, w, partition, record_progress, budget);
                high_watermark_moved |= moved;
                if out.error_code != 0 {
                    errors = true;
                }
                let n = record_bytes(&out);
                bytes += n;
                budget = budget.saturating_sub(n).max(1);
                (i, out)
            })
            .collect();
        if high_watermark_moved {
            self.broker.notify_data_changed();
        }
        Pass {
            partitions: read,
            bytes,
            errors,
        }
    }

    /// One partition's data, and whether recording the follower's progress moved its high
    /// watermark.
    fn read_partition(
        &self,
        (topic, index): &Key,
        p: &Wanted,
        partition: &Option<Arc<Partition>>,
        record_progress: bool,
        budget: usize,
    ) -> (PartitionData, bool) {
        let error = |code: ResponseError| {
            PartitionData::default()
                .with_partition_index(*index)
                .with_error_code(code.code())
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
        };
        let broker = self.broker;
        let Some(partition) = partition else {
            let code = if broker.image().topics.contains_key(&**topic) {
                ResponseError::NotLeaderOrFollower
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            return (error(code), false);
        };
        if let Err(code) = partition.check_leader(p.current_leader_epoch) {
            return (error(code), false);
        }
        let follower = self.replica_id >= 0;
        let mut moved = false;
        if follower && record_progress {
            let now = self.now;
            let fetched = p.fetch_offset;
            match partition.record_follower_fetch(
                broker.id(),
                self.replica_id,
                fetched,
                self.alive,
                now,
            ) {
                Ok(progress) => {
                    moved = progress.high_watermark_moved;
                    if let Some(proposal) = progress.proposal {
                        broker.propose_isr(proposal);
                    }
                }
                Err(code) => {
                    let start = partition.log_start_offset();
                    return (error(code).with_log_start_offset(start), false);
                }
            }
        }
        let max = (p.partition_max_bytes.max(0) as usize).min(budget).max(1);
        let reading = match (follower, self.isolation_level) {
            (true, _) => Reading::Follower,
            (false, 1) => Reading::Committed,
            (false, _) => Reading::Uncommitted,
        };
        let data = match partition.read(p.fetch_offset, reading, max) {
            Ok(read) => PartitionData::default()
                .with_partition_index(*index)
                .with_high_watermark(read.high_watermark)
                .with_last_stable_offset(read.last_stable_offset)
                .with_log_start_offset(read.log_start_offset)
                .with_aborted_transactions(read.aborted.map(|aborted| {
                    aborted
                        .into_iter()
                        .map(|t| {
                            AbortedTransaction::default()
                                .with_producer_id(t.producer_id.into())
                                .with_first_offset(t.first_offset)
                        })
                        .collect()
                }))
                .with_records(Some(read.records)),
            // Say where the log starts, so a reader (or a follower) below it knows where to go.
            Err(code) => error(code).with_log_start_offset(partition.log_start_offset()),
        };
        (data, moved)
    }
}

/// The response: every partition for a full fetch, the ones with news for an incremental one
/// (see [`FetchSessions::include`]), grouped by topic.
fn respond(
    sessions: &FetchSessions,
    mode: Mode,
    wanted: &[(Key, Wanted)],
    read: Vec<PartitionData>,
) -> FetchResponse {
    let results = wanted
        .iter()
        .zip(read)
        .map(|((key, _), data)| (key, reported(&data), carries_data(&data), data));
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (key, data) in sessions.filter(mode, results) {
        match topics.last_mut() {
            Some(t) if t.topic.as_str() == &*key.0 => t.partitions.push(data),
            _ => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(key.0.to_string())))
                    .with_partitions(vec![data]),
            ),
        }
    }
    FetchResponse::default()
        .with_session_id(mode.session_id())
        .with_responses(topics)
}
