//! Fetch, for consumers and followers alike. Consumers read up to the high watermark;
//! followers (a replica id in the request) read up to the log end, and their fetch offset is
//! how the leader learns their progress ([`Partition::record_follower_fetch`]), which moves the
//! high watermark — completing acks=all produces waiting on it — and decides ISR membership.
//! With too little data the request waits up to `max_wait_ms` for more, waking on the broker's
//! change journal ([`super::super::data_changes`]) and reading again only the partitions that
//! moved. Clients that open an incremental fetch session ([`super::super::fetch_session`])
//! list and get back only what changed, and the leader reads only what they list and what
//! moved since their last response.
//!
//! [`Partition::record_follower_fetch`]: crate::cluster::broker::partition::Partition::record_follower_fetch

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::data_changes::Changed;
use crate::cluster::broker::fetch_session::{
    FetchSessions, Freshness, Key, Mode, Selection, Sent, Wanted,
};
use crate::cluster::broker::isr::progress_period;
use crate::cluster::broker::partition::{Partition, Reading};
use crate::cluster::broker::Broker;

pub async fn handle(broker: &Broker, r: FetchRequest, version: i16) -> FetchResponse {
    let replica_id = if version >= 15 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    let follower = (replica_id >= 0).then_some(replica_id);
    // Whether the controller counts the follower in the cluster: one look per request.
    let alive = follower.is_some_and(|id| broker.image().is_alive(id));
    // One clock reading for the request's progress records, not one per partition.
    let now = Instant::now();
    let fresh = Freshness {
        read_all_every: progress_period(broker.config.timings.replica_lag_time_max),
        alive,
    };
    let (mode, selection) = match broker
        .fetch_sessions()
        .open(&r, version, follower, fresh, now)
    {
        Ok(opened) => opened,
        Err(code) => return FetchResponse::default().with_error_code(code.code()),
    };
    let reader = Reader {
        broker,
        replica_id,
        now,
        alive,
        max_bytes: r.max_bytes,
        isolation_level: r.isolation_level,
    };
    let wait = Wait {
        deadline: now + Duration::from_millis(r.max_wait_ms.max(0) as u64),
        min_bytes: r.min_bytes.max(0) as usize,
    };
    match mode {
        Mode::Incremental { id } => incremental(&reader, id, selection, wait).await,
        // A full fetch reads everything it lists (which is all a session gives it).
        _ => {
            let (Selection::All(wanted) | Selection::Since { listed: wanted, .. }) = selection;
            full(&reader, mode, wanted, wait).await
        }
    }
}

/// How long a request may wait, and for how much.
#[derive(Clone, Copy)]
struct Wait {
    deadline: Instant,
    min_bytes: usize,
}

/// A full fetch (with or without a session): every partition it lists, every time. It waits
/// for a change in one of them, or the deadline.
async fn full(
    reader: &Reader<'_>,
    mode: Mode,
    wanted: Vec<(Key, Wanted)>,
    wait: Wait,
) -> FetchResponse {
    let broker = reader.broker;
    let changes = broker.data_changes();
    let mut woken = broker.watch_data();
    woken.borrow_and_update();
    let lookup = || {
        let generation = broker.roles_generation();
        let keys = wanted.iter().map(|((t, i), _)| (&**t, *i));
        (generation, broker.partitions_of(keys))
    };
    let (mut generation, mut partitions) = lookup();
    // Everything that moves after this is in the journal after it.
    let mut cursor = changes.cursor();
    // The request's partitions by address, to tell whether a change concerns it.
    let mut ours: Option<HashSet<usize>> = None;
    // A follower's progress is recorded on the first pass only.
    let mut progress_at = Some(reader.now);
    loop {
        let pass = reader.read(&wanted, &partitions, 0..wanted.len(), progress_at, 0);
        if pass.errors || pass.bytes >= wait.min_bytes || Instant::now() >= wait.deadline {
            if let Mode::Full { id } = mode {
                let read_all = Some((reader.now, reader.alive));
                broker.fetch_sessions().answered(id, cursor, read_all);
            }
            let read = pass.partitions.into_iter().map(|(_, data)| data).collect();
            return respond(broker.fetch_sessions(), mode, &wanted, read);
        }
        progress_at = None;
        // Sleep until one of this request's partitions moves, or the deadline.
        loop {
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep_until(wait.deadline.into()) => break,
            }
            woken.borrow_and_update();
            let (changed, end) = changes.since(cursor);
            cursor = end;
            if broker.roles_generation() != generation {
                (generation, partitions) = lookup();
                ours = None;
                break;
            }
            let Changed::Only(moved) = changed else { break };
            let ours = ours.get_or_insert_with(|| {
                partitions
                    .iter()
                    .flatten()
                    .map(|p| Arc::as_ptr(p) as usize)
                    .collect()
            });
            if moved
                .iter()
                .any(|p| ours.contains(&(Arc::as_ptr(p) as usize)))
            {
                break;
            }
        }
    }
}

/// An incremental fetch of session `id`: reads what `selection` names, then, while waiting,
/// only the session's partitions that move — and all of them, recording a follower's progress,
/// if the session's periodic full read falls due while it waits; answers with those that have
/// news.
async fn incremental(
    reader: &Reader<'_>,
    id: i32,
    selection: Selection,
    wait: Wait,
) -> FetchResponse {
    let broker = reader.broker;
    let sessions = broker.fetch_sessions();
    let changes = broker.data_changes();
    let mut woken = broker.watch_data();
    woken.borrow_and_update();
    let moved_keys = |moved: &[Arc<Partition>]| -> Vec<(Key, Wanted)> {
        sessions.pick(id, moved.iter().map(|p| (p.topic.as_str(), p.index)))
    };
    // When every partition was last read in this request, and when the next full read is due
    // if none has been.
    let (mut wanted, mut cursor, mut read_all_at, mut read_all_due) = match selection {
        Selection::All(all) => (all, changes.cursor(), Some(reader.now), None),
        Selection::Since {
            listed,
            cursor,
            read_all_due,
        } => match changes.since(cursor) {
            (Changed::Everything, end) => (sessions.all(id), end, Some(reader.now), None),
            (Changed::Only(moved), end) => {
                let mut both: BTreeMap<Key, Wanted> = moved_keys(&moved).into_iter().collect();
                both.extend(listed);
                (both.into_iter().collect(), end, None, Some(read_all_due))
            }
        },
    };
    // The session's partitions with something to say, gathered over the passes.
    let mut news: BTreeMap<Key, (Wanted, PartitionData)> = BTreeMap::new();
    // A follower's progress is recorded on the first pass, and on a full read that falls due.
    let mut progress_at = Some(reader.now);
    loop {
        let partitions = broker.partitions_of(wanted.iter().map(|((t, i), _)| (&**t, *i)));
        let used: usize = news.values().map(|(_, d)| record_bytes(d)).sum();
        let pass = reader.read(&wanted, &partitions, 0..wanted.len(), progress_at, used);
        for (i, data) in pass.partitions {
            let (key, w) = &wanted[i];
            if has_news(&data, w.sent()) {
                news.insert(key.clone(), (w.clone(), data));
            }
        }
        let bytes: usize = news.values().map(|(_, d)| record_bytes(d)).sum();
        let errors = news.values().any(|(_, d)| d.error_code != 0);
        if errors || bytes >= wait.min_bytes || Instant::now() >= wait.deadline {
            let read_all = read_all_at.map(|at| (at, reader.alive));
            sessions.answered(id, cursor, read_all);
            let (keys, read): (Vec<(Key, Wanted)>, Vec<PartitionData>) =
                news.into_iter().map(|(k, (w, d))| ((k, w), d)).unzip();
            return respond(sessions, Mode::Incremental { id }, &keys, read);
        }
        progress_at = None;
        // Sleep until one of the session's partitions moves (those are read next), the full
        // read falls due (all are), or the deadline (then nothing more is read).
        let full_read = read_all_due.unwrap_or(wait.deadline);
        wanted = loop {
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep_until(full_read.into()), if full_read < wait.deadline => {
                    let now = Instant::now();
                    (progress_at, read_all_at, read_all_due) = (Some(now), Some(now), None);
                    // Anything that moved until now is read with the rest.
                    cursor = changes.cursor();
                    break sessions.all(id);
                }
                _ = tokio::time::sleep_until(wait.deadline.into()) => break Vec::new(),
            }
            woken.borrow_and_update();
            let (changed, end) = changes.since(cursor);
            cursor = end;
            let moved = match changed {
                Changed::Everything => sessions.all(id),
                Changed::Only(moved) => moved_keys(&moved),
            };
            if !moved.is_empty() {
                break moved;
            }
        };
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
    /// When the request came: the time of the first pass's progress records.
    now: Instant,
    alive: bool,
    max_bytes: i32,
    /// 0: read_uncommitted, 1: read_committed.
    isolation_level: i8,
}

impl Reader<'_> {
    /// Reads the wanted partitions at positions `which`; with `progress_at` a follower's fetch
    /// offsets also record its progress, as of then. `used` bytes of the request's
    /// `max_bytes` went to earlier passes.
    fn read(
        &self,
        wanted: &[(Key, Wanted)],
        partitions: &[Option<Arc<Partition>>],
        which: impl Iterator<Item = usize>,
        progress_at: Option<Instant>,
        used: usize,
    ) -> Pass {
        let mut budget = if self.max_bytes > 0 {
            (self.max_bytes as usize).saturating_sub(used).max(1)
        } else {
            usize::MAX
        };
        let mut bytes = 0usize;
        let mut errors = false;
        let mut high_watermark_moved: Vec<Arc<Partition>> = Vec::new();
        let read = which
            .map(|i| {
                let (key, w) = &wanted[i];
                let partition = &partitions[i];
                let (out, moved) = self.read_partition(key, w, partition, progress_at, budget);
                if let (true, Some(p)) = (moved, partition) {
                    high_watermark_moved.push(p.clone());
                }
                if out.error_code != 0 {
                    errors = true;
                }
                let n = record_bytes(&out);
                bytes += n;
                budget = budget.saturating_sub(n).max(1);
                (i, out)
            })
            .collect();
        if !high_watermark_moved.is_empty() {
            self.broker.data_changes().record(&high_watermark_moved);
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
        progress_at: Option<Instant>,
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
        if let (true, Some(now)) = (follower, progress_at) {
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
