//! Incremental fetch sessions (KIP-227), the leader's side. A fetcher that follows thousands
//! of partitions would otherwise send every partition in every request and get every
//! partition back, data or not. With a session the broker remembers the partitions and their
//! fetch positions; each later request lists only what changed (new positions, partitions to
//! add, `forgotten_topics_data` to drop), and each response carries only the partitions with
//! something new: records, a moved high watermark or log start, or an error.
//!
//! The request's `session_id`/`session_epoch` pick the mode, as in Kafka's `FetchManager`:
//! `(0, -1)` is a full fetch without a session (what librdkafka sends), `(0, 0)` a full fetch
//! that opens one, `(id, -1)` closes `id` and fetches in full, `(id, 0)` closes `id` and opens
//! a new one, and `(id, n > 0)` is the n-th incremental fetch of `id` — an unknown id is
//! `FETCH_SESSION_ID_NOT_FOUND`, a wrong epoch `INVALID_FETCH_SESSION_EPOCH`, and the client
//! starts over with a full fetch.
//!
//! Kafka keeps up to `max.incremental.fetch.session.cache.slots` (1000) sessions; so does this
//! cache. When full, a session idle for two minutes makes room; otherwise a follower's new
//! session may evict the least recently used consumer session, and a consumer simply fetches
//! without one (session id 0 in the response). A follower's new session replaces its previous
//! one on this leader, since it fetches through one fetcher per leader.
//!
//! An incremental request costs what changed, not the session's size: the session remembers
//! where in the broker's change journal ([`super::data_changes`]) its last response's reads
//! stood, and the request reads only the partitions it lists and those that moved since
//! ([`Selection::Since`]). Kafka reads every session partition on every request, which also
//! refreshes a follower's caught-up time on its idle partitions; here that full read happens
//! at least every `read_all_every` (a fraction of `replica.lag.time.max`), when the follower's
//! liveness changes, and whenever the journal cannot say what moved.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::ResponseError;

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
const SLOTS: usize = 1000;
/// How long a session must sit unused before a new one may evict it (Kafka: 120 s).
const EVICTABLE_AFTER: Duration = Duration::from_secs(120);

/// (topic, partition index). The topic is shared, so copying a session's keys is cheap.
pub(crate) type Key = (Arc<str>, i32);

/// What the leader remembers of one partition in a session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wanted {
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub partition_max_bytes: i32,
    /// What the last response said about the partition, to tell whether it changed since.
    sent: Option<Sent>,
}

/// The partition-level facts a response reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl Wanted {
    /// What the session's last response said about this partition, if anything.
    pub(crate) fn sent(&self) -> Option<Sent> {
        self.sent
    }

    fn from_request(p: &FetchPartition) -> Self {
        Self {
            fetch_offset: p.fetch_offset,
            current_leader_epoch: p.current_leader_epoch,
            partition_max_bytes: p.partition_max_bytes,
            sent: None,
        }
    }
}

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    partitions: BTreeMap<Key, Wanted>,
    last_used: Instant,
    /// The follower's replica id, or `None` for a consumer.
    replica: Option<i32>,
    /// Where in the broker's change journal the last response's reads stood.
    cursor: Option<u64>,
    /// When a request last read every partition, and whether the follower was alive then.
    read_all: Option<(Instant, bool)>,
}

/// Which partitions a request reads.
#[derive(Debug)]
pub(crate) enum Selection {
    /// All of these: a full fetch, or a session's periodic read of everything.
    All(Vec<(Key, Wanted)>),
    /// The ones listed, and those that moved after `cursor` in the change journal; all of
    /// them if the request is still waiting at `read_all_due`.
    Since {
        listed: Vec<(Key, Wanted)>,
        cursor: u64,
        read_all_due: Instant,
    },
}

/// How often an incremental request must read everything, and the follower's liveness now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    pub read_all_every: Duration,
    pub alive: bool,
}

/// How one Fetch request relates to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A full fetch with no session (session id 0 in the response).
    Sessionless,
    /// A full fetch that opened session `id`: every partition goes in the response.
    Full { id: i32 },
    /// An incremental fetch of session `id`: only changed partitions go in the response.
    Incremental { id: i32 },
}

impl Mode {
    /// The session id to put in the response.
    pub(crate) fn session_id(self) -> i32 {
        match self {
            Mode::Sessionless => 0,
            Mode::Full { id } | Mode::Incremental { id } => id,
        }
    }
}

/// A broker's fetch sessions.
#[derive(Debug, Default)]
pub(crate) struct FetchSessions {
    inner: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    last_id: i32,
    sessions: HashMap<i32, Session>,
}

impl FetchSessions {
    /// Resolves a request to its mode and the partitions to read: for a full fetch all of
    /// them in request order; for an incremental one those it lists (or, when `fresh` says
    /// so, all of the session's) in the session's order.
    pub(crate) fn open(
        &self,
        r: &FetchRequest,
        version: i16,
        replica: Option<i32>,
        fresh: Freshness,
        now: Instant,
    ) -> Result<(Mode, Selection), ResponseError> {
        let listed = || -> Vec<(Key, Wanted)> {
            r.topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            (Arc::from(t.topic.as_str()), p.partition),
                            Wanted::from_request(p),
                        )
                    })
                })
                .collect()
        };
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if version < 7 {
            return Ok((Mode::Sessionless, Selection::All(listed())));
        }
        match (r.session_id, r.session_epoch) {
            (0, -1) => Ok((Mode::Sessionless, Selection::All(listed()))),
            (id, -1) => {
                cache.sessions.remove(&id);
                Ok((Mode::Sessionless, Selection::All(listed())))
            }
            (id, 0) => {
                // A full fetch at epoch 0 opens a new session, closing `id` if it names one.
                cache.sessions.remove(&id);
                let wanted = listed();
                let mode = match cache.make_room(replica, now) {
                    true => {
                        let id = cache.new_id();
                        cache.sessions.insert(
                            id,
                            Session {
                                next_epoch: 1,
                                partitions: wanted.iter().cloned().collect(),
                                last_used: now,
                                replica,
                                cursor: None,
                                read_all: None,
                            },
                        );
                        Mode::Full { id }
                    }
                    false => Mode::Sessionless,
                };
                Ok((mode, Selection::All(wanted)))
            }
            (0, _) => Err(ResponseError::FetchSessionIdNotFound),
            (id, epoch) => {
                let Some(session) = cache.sessions.get_mut(&id) else {
                    return Err(ResponseError::FetchSessionIdNotFound);
                };
                if epoch != session.next_epoch {
                    return Err(ResponseError::InvalidFetchSessionEpoch);
                }
                session.next_epoch = epoch.checked_add(1).unwrap_or(1);
                session.last_used = now;
                let mut changed = Vec::new();
                for (key, wanted) in listed() {
                    let sent = session.partitions.get(&key).and_then(|w| w.sent);
                    let wanted = Wanted { sent, ..wanted };
                    session.partitions.insert(key.clone(), wanted.clone());
                    changed.push((key, wanted));
                }
                for t in &r.forgotten_topics_data {
                    for p in &t.partitions {
                        session
                            .partitions
                            .remove(&(Arc::from(t.topic.as_str()), *p));
                    }
                }
                changed.sort_by(|a, b| a.0.cmp(&b.0));
                changed.dedup_by(|a, b| a.0 == b.0);
                changed.retain(|(key, _)| session.partitions.contains_key(key));
                let selection = match (session.cursor, session.read_all) {
                    (Some(cursor), Some((at, alive)))
                        if alive == fresh.alive
                            && now.duration_since(at) < fresh.read_all_every =>
                    {
                        Selection::Since {
                            listed: changed,
                            cursor,
                            read_all_due: at + fresh.read_all_every,
                        }
                    }
                    _ => Selection::All(session.all()),
                };
                Ok((Mode::Incremental { id }, selection))
            }
        }
    }

    /// After reading: the results that belong in the response, remembering what was sent. A
    /// full fetch sends everything; an incremental one only partitions with `news` (records
    /// or an error) or whose high watermark or log start changed since the last response.
    pub(crate) fn filter<'k, T>(
        &self,
        mode: Mode,
        results: impl Iterator<Item = (&'k Key, Sent, bool, T)>,
    ) -> Vec<(&'k Key, T)> {
        let id = match mode {
            Mode::Sessionless => return results.map(|(k, _, _, t)| (k, t)).collect(),
            Mode::Full { id } | Mode::Incremental { id } => id,
        };
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut session = cache.sessions.get_mut(&id);
        results
            .filter_map(|(key, sent, news, t)| {
                let remembered = session.as_mut().and_then(|s| s.partitions.get_mut(key));
                let changed = match remembered {
                    Some(wanted) => wanted.sent.replace(sent) != Some(sent),
                    None => true,
                };
                (matches!(mode, Mode::Full { .. }) || news || changed).then_some((key, t))
            })
            .collect()
    }

    /// Every partition of session `id`, in its order (after the journal lost track).
    pub(crate) fn all(&self, id: i32) -> Vec<(Key, Wanted)> {
        let cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .sessions
            .get(&id)
            .map(Session::all)
            .unwrap_or_default()
    }

    /// The partitions of session `id` among `moved` (topic and index), in the session's
    /// order.
    pub(crate) fn pick<'a>(
        &self,
        id: i32,
        moved: impl Iterator<Item = (&'a str, i32)>,
    ) -> Vec<(Key, Wanted)> {
        let cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(session) = cache.sessions.get(&id) else {
            return Vec::new();
        };
        let mut picked: Vec<(Key, Wanted)> = moved
            .filter_map(|(topic, index)| {
                let key: Key = (Arc::from(topic), index);
                let wanted = session.partitions.get(&key)?.clone();
                Some((key, wanted))
            })
            .collect();
        picked.sort_by(|a, b| a.0.cmp(&b.0));
        picked.dedup_by(|a, b| a.0 == b.0);
        picked
    }

    /// Session `id` answered a request whose reads stood at `cursor` in the change journal;
    /// `read_all` when its first pass read every partition (at that time, with the follower
    /// alive or not).
    pub(crate) fn answered(&self, id: i32, cursor: u64, read_all: Option<(Instant, bool)>) {
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = cache.sessions.get_mut(&id) {
            session.cursor = Some(cursor);
            if read_all.is_some() {
                session.read_all = read_all;
            }
        }
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sessions
            .len()
    }
}

impl Session {
    fn all(&self) -> Vec<(Key, Wanted)> {
        self.partitions
            .iter()
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect()
    }
}

impl Cache {
    fn new_id(&mut self) -> i32 {
        loop {
            self.last_id = self.last_id.checked_add(1).unwrap_or(1);
            if !self.sessions.contains_key(&self.last_id) {
                return self.last_id;
            }
        }
    }

    /// Frees a slot for a new session of `replica` (or a consumer's, for `None`) if the rules
    /// above allow; false if the new session must go without.
    fn make_room(&mut self, replica: Option<i32>, now: Instant) -> bool {
        if let Some(id) = replica {
            self.sessions.retain(|_, s| s.replica != Some(id));
        }
        if self.sessions.len() < SLOTS {
            return true;
        }
        let oldest = |consumers_only: bool| {
            self.sessions
                .iter()
                .filter(|(_, s)| !consumers_only || s.replica.is_none())
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, s)| (*id, s.last_used))
        };
        let victim = match oldest(false) {
            Some((id, used)) if now.duration_since(used) >= EVICTABLE_AFTER => Some(id),
            _ if replica.is_some() => oldest(true).map(|(id, _)| id),
            _ => None,
        };
        match victim {
            Some(id) => {
                self.sessions.remove(&id);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_request::{FetchTopic, ForgottenTopic};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn request(id: i32, epoch: i32, partitions: &[(i32, i64)]) -> FetchRequest {
        FetchRequest::default()
            .with_session_id(id)
            .with_session_epoch(epoch)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|(p, offset)| {
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*offset)
                        })
                        .collect(),
                )])
    }

    fn key(p: i32) -> Key {
        (Arc::from("t"), p)
    }

    /// Which of `results` (partition, sent, news) a response would carry.
    fn sent(cache: &FetchSessions, mode: Mode, results: &[(i32, Sent, bool)]) -> Vec<i32> {
        let keys: Vec<Key> = results.iter().map(|(p, _, _)| key(*p)).collect();
        let rows = keys
            .iter()
            .zip(results)
            .map(|(k, (_, s, n))| (k, *s, *n, ()));
        cache
            .filter(mode, rows)
            .into_iter()
            .map(|(k, ())| k.1)
            .collect()
    }

    const FRESH: Freshness = Freshness {
        read_all_every: Duration::from_secs(60),
        alive: true,
    };

    /// Opens with liveness unchanged and no full read due; returns what the request reads
    /// (for an incremental one: what it lists, or everything when a full read is due).
    fn open(
        cache: &FetchSessions,
        r: &FetchRequest,
        version: i16,
        replica: Option<i32>,
        now: Instant,
    ) -> Result<(Mode, Vec<(Key, Wanted)>), ResponseError> {
        let (mode, selection) = cache.open(r, version, replica, FRESH, now)?;
        let wanted = match selection {
            Selection::All(all) => all,
            Selection::Since { listed, .. } => listed,
        };
        Ok((mode, wanted))
    }

    const SENT: Sent = Sent {
        high_watermark: 5,
        log_start_offset: 0,
    };

    #[test]
    fn a_session_remembers_partitions_and_answers_only_what_changed() {
        let cache = FetchSessions::default();
        let now = Instant::now();
        let (mode, wanted) =
            open(&cache, &request(0, 0, &[(0, 0), (1, 0)]), 12, Some(2), now).unwrap();
        let Mode::Full { id } = mode else {
            panic!("a full fetch at epoch 0 opens a session, got {mode:?}")
        };
        assert_eq!(wanted.len(), 2);
        let all = sent(&cache, mode, &[(0, SENT, false), (1, SENT, false)]);
        assert_eq!(all, vec![0, 1], "full fetches send all");

        // The next request lists only partition 1's new position; both are read.
        let (mode, wanted) = open(&cache, &request(id, 1, &[(1, 5)]), 12, Some(2), now).unwrap();
        assert_eq!(mode, Mode::Incremental { id });
        let offsets: Vec<i64> = wanted.iter().map(|(_, w)| w.fetch_offset).collect();
        assert_eq!(
            offsets,
            vec![0, 5],
            "partition 0 keeps its remembered position"
        );
        // Nothing new for 0, a moved high watermark for 1; records are always news.
        let moved = Sent {
            high_watermark: 9,
            ..SENT
        };
        assert_eq!(
            sent(&cache, mode, &[(0, SENT, false), (1, moved, false)]),
            vec![1]
        );
        assert!(sent(&cache, mode, &[(0, SENT, false), (1, moved, false)]).is_empty());
        assert_eq!(
            sent(&cache, mode, &[(0, SENT, true), (1, moved, false)]),
            vec![0]
        );
    }

    #[test]
    fn once_answered_a_session_reads_what_it_lists_and_what_moved_and_everything_when_due() {
        let cache = FetchSessions::default();
        let t0 = Instant::now();
        let (mode, _) = open(
            &cache,
            &request(0, 0, &[(0, 0), (1, 0), (2, 0)]),
            12,
            Some(2),
            t0,
        )
        .unwrap();
        let id = mode.session_id();
        cache.answered(id, 40, Some((t0, true)));
        let listed = |epoch, fresh: Freshness, now| match cache.open(
            &request(id, epoch, &[(1, 5)]),
            12,
            Some(2),
            fresh,
            now,
        ) {
            Ok((
                _,
                Selection::Since {
                    listed,
                    cursor,
                    read_all_due,
                },
            )) => {
                assert_eq!(cursor, 40, "where the last response's reads stood");
                assert_eq!(read_all_due, t0 + FRESH.read_all_every, "a period after");
                Some(
                    listed
                        .iter()
                        .map(|(k, w)| (k.1, w.fetch_offset))
                        .collect::<Vec<_>>(),
                )
            }
            Ok((_, Selection::All(all))) => {
                assert_eq!(all.len(), 3);
                None
            }
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(listed(1, FRESH, t0), Some(vec![(1, 5)]));
        // What moved is picked from the session, at the positions it remembers.
        let picked = cache.pick(id, [("t", 2), ("t", 0), ("t", 9), ("t", 2)].into_iter());
        let picked: Vec<(i32, i64)> = picked.iter().map(|(k, w)| (k.1, w.fetch_offset)).collect();
        assert_eq!(
            picked,
            vec![(0, 0), (2, 0)],
            "once each, in order, only the session's"
        );
        // Everything is read again once the follower's liveness changes...
        let dead = Freshness {
            alive: false,
            ..FRESH
        };
        assert_eq!(listed(2, dead, t0), None);
        cache.answered(id, 40, Some((t0, false)));
        assert_eq!(listed(3, dead, t0), Some(vec![(1, 5)]));
        // ...or once the last full read is older than `read_all_every`.
        let later = t0 + FRESH.read_all_every;
        assert_eq!(listed(4, dead, later), None);
        // An answer that read only some partitions leaves the time of the last full read.
        cache.answered(id, 40, None);
        assert_eq!(listed(5, dead, later), None);
    }

    #[test]
    fn forgotten_partitions_leave_the_session() {
        let cache = FetchSessions::default();
        let now = Instant::now();
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0), (1, 0)]), 12, None, now).unwrap();
        let id = mode.session_id();
        let forget = request(id, 1, &[])
            .with_forgotten_topics_data(vec![ForgottenTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![0])]);
        let (_, wanted) = open(&cache, &forget, 12, None, now).unwrap();
        assert_eq!(wanted.iter().map(|(k, _)| k.1).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn wrong_epochs_and_unknown_sessions_are_refused_and_closing_works() {
        let cache = FetchSessions::default();
        let now = Instant::now();
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 12, None, now).unwrap();
        let id = mode.session_id();
        assert_eq!(
            open(&cache, &request(id, 2, &[]), 12, None, now).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch
        );
        assert_eq!(
            open(&cache, &request(id + 7, 1, &[]), 12, None, now).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        assert!(open(&cache, &request(id, 1, &[]), 12, None, now).is_ok());
        // Epoch -1 with an id closes the session and fetches in full without one.
        let (mode, _) = open(&cache, &request(id, -1, &[(0, 0)]), 12, None, now).unwrap();
        assert_eq!(mode, Mode::Sessionless);
        assert_eq!(cache.len(), 0);
        // (id, 0) closes id and opens another; an epoch above 0 without an id names nothing.
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 12, None, now).unwrap();
        let old = mode.session_id();
        let (mode, _) = open(&cache, &request(old, 0, &[(0, 0)]), 12, None, now).unwrap();
        assert!(matches!(mode, Mode::Full { id } if id != old));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            open(&cache, &request(old, 1, &[]), 12, None, now).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        assert_eq!(
            open(&cache, &request(0, 3, &[]), 12, None, now).unwrap_err(),
            ResponseError::FetchSessionIdNotFound
        );
        let (mode, _) = open(&cache, &request(mode.session_id(), -1, &[]), 12, None, now).unwrap();
        assert_eq!(mode, Mode::Sessionless);
        // librdkafka's (0, -1) never opens one; neither does a version before 7.
        let (mode, _) = open(&cache, &request(0, -1, &[(0, 0)]), 12, None, now).unwrap();
        assert_eq!(mode, Mode::Sessionless);
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 6, None, now).unwrap();
        assert_eq!(mode, Mode::Sessionless);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_evicts_idle_sessions_and_prefers_followers() {
        let cache = FetchSessions::default();
        let start = Instant::now();
        for _ in 0..SLOTS {
            open(&cache, &request(0, 0, &[(0, 0)]), 12, None, start).unwrap();
        }
        // A consumer gets no session while every other session is fresh...
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 12, None, start).unwrap();
        assert_eq!(mode, Mode::Sessionless);
        // ...a follower does, by evicting a consumer's...
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 12, Some(3), start).unwrap();
        assert!(matches!(mode, Mode::Full { .. }));
        // ...and its next session replaces its first rather than taking another slot.
        open(&cache, &request(0, 0, &[(0, 0)]), 12, Some(3), start).unwrap();
        assert_eq!(cache.len(), SLOTS);
        // Two idle minutes later, anyone may take the oldest slot.
        let later = start + EVICTABLE_AFTER;
        let (mode, _) = open(&cache, &request(0, 0, &[(0, 0)]), 12, None, later).unwrap();
        assert!(matches!(mode, Mode::Full { .. }));
        assert_eq!(cache.len(), SLOTS);
    }
}
