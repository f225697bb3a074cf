//! Writing a decided transaction's markers: one WriteTxnMarkers request to the leader of each
//! partition in the transaction, until every partition has its commit or abort marker.
//!
//! This is the boundary between the coordinator and the partition logs. The coordinator does
//! not write markers itself; like Kafka's `TransactionMarkerChannelManager` it asks each
//! partition's leader to, and a partition counts as done when its leader answers error code 0.
//! A partition whose leader is unknown, has moved (NOT_LEADER_OR_FOLLOWER), cannot be reached
//! or fails otherwise (UNKNOWN_TOPIC_OR_PARTITION included: a leader behind on metadata says
//! it too) is tried again after a backoff, at whichever broker leads it then — so a partition
//! leader killed mid-commit delays the commit but does not lose it. A partition whose topic
//! has been deleted (gone from this broker's metadata) needs no marker any more and counts as
//! done, as in Kafka.
//!
//! Sending stops when this broker stops coordinating the transaction's `__transaction_state`
//! partition, or when a leader says a newer coordinator or producer epoch has been there
//! (TRANSACTION_COORDINATOR_FENCED, INVALID_PRODUCER_EPOCH, PRODUCER_FENCED): this broker was
//! deposed, perhaps without knowing it yet, and the new coordinator replays the decision and
//! sends the markers again, as Kafka's `TransactionMarkerRequestCompletionHandler` gives up.
//! Markers are idempotent for the leader (the same producer epoch ends the same transaction),
//! so sending one twice is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::TRANSACTION_STATE_TOPIC;
use crate::cluster::broker::partition::Role;
use crate::cluster::broker::Broker;
use crate::protocol::ProtocolError;

/// The WriteTxnMarkers version the coordinator sends (the only one Kafka still defines).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// How long one WriteTxnMarkers request may take: longer than a leader waits for its in-sync
/// replicas to take a marker (`broker/api/txn_markers.rs`), so a slow ISR answers rather than
/// time the request out and have another copy of the marker appended.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);
/// The first wait before trying unfinished partitions again; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A decided transaction: which markers to write where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The producer id.
    pub producer_id: i64,
    /// The epoch the markers carry: the transaction's current epoch (bumped on a timeout or
    /// fencing abort, so the leader fences the old producer's writes).
    pub producer_epoch: i16,
    /// The coordinator's leader epoch of the `__transaction_state` partition, so a leader can
    /// refuse markers from a deposed coordinator.
    pub coordinator_epoch: i32,
    /// Commit (true) or abort.
    pub commit: bool,
    /// Partitions to mark.
    pub partitions: BTreeSet<(String, i32)>,
}

/// Where a partition's marker can go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The address (`host:port`) of its leader.
    Leader(String),
    /// It has no live leader at the moment: wait.
    Leaderless,
    /// The metadata no longer has it (its topic was deleted): no marker is needed.
    Gone,
}

/// Where markers go: what the coordinator needs from the cluster, so the sending rules can be
/// tested against a fake.
pub trait MarkerChannel: Send + Sync {
    /// Where the marker of `topic`-`partition` can go now.
    fn leader_of(&self, topic: &str, partition: i32) -> Placement;
    /// Sends one WriteTxnMarkers request to the broker at `addr`.
    fn send(
        &self,
        addr: &str,
        request: WriteTxnMarkersRequest,
    ) -> impl Future<Output = Result<WriteTxnMarkersResponse, ProtocolError>> + Send;
    /// Whether this broker still coordinates the transaction.
    fn still_coordinating(&self) -> bool;
}

/// Builds the request for some partitions of a decision.
fn request(decision: &Decision, partitions: &[(String, i32)]) -> WriteTxnMarkersRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in partitions {
        by_topic.entry(topic).or_default().push(*p);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(partitions)
        })
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(decision.producer_id.into())
        .with_producer_epoch(decision.producer_epoch)
        .with_transaction_result(decision.commit)
        .with_coordinator_epoch(decision.coordinator_epoch)
        .with_topics(topics)])
}

/// What a leader's answer says: the partitions that have their marker, and whether a newer
/// coordinator or producer epoch fenced this one.
struct Answer {
    written: Vec<(String, i32)>,
    fenced: bool,
}

fn read_answer(response: &WriteTxnMarkersResponse) -> Answer {
    let fencing = [
        ResponseError::TransactionCoordinatorFenced.code(),
        ResponseError::InvalidProducerEpoch.code(),
        ResponseError::ProducerFenced.code(),
    ];
    let partitions = response
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| t.partitions.iter().map(move |p| (t, p)));
    let mut answer = Answer {
        written: Vec::new(),
        fenced: false,
    };
    for (t, p) in partitions {
        if p.error_code == 0 {
            answer.written.push((t.name.to_string(), p.partition_index));
        } else if fencing.contains(&p.error_code) {
            answer.fenced = true;
        }
    }
    answer
}

/// Sends the decision's markers until every partition has its marker (true), or this broker
/// stops coordinating the transaction or a leader says it was fenced (false).
pub async fn write_markers<C: MarkerChannel>(channel: &C, decision: &Decision) -> bool {
    let mut pending = decision.partitions.clone();
    let mut backoff = FIRST_BACKOFF;
    while !pending.is_empty() {
        if !channel.still_coordinating() {
            return false;
        }
        let mut by_leader: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
        let mut gone = Vec::new();
        for (topic, p) in &pending {
            match channel.leader_of(topic, *p) {
                Placement::Leader(addr) => {
                    by_leader.entry(addr).or_default().push((topic.clone(), *p))
                }
                Placement::Leaderless => {}
                Placement::Gone => gone.push((topic.clone(), *p)),
            }
        }
        for p in gone {
            pending.remove(&p);
        }
        for (addr, partitions) in by_leader {
            match channel.send(&addr, request(decision, &partitions)).await {
                Ok(response) => {
                    let answer = read_answer(&response);
                    if answer.fenced {
                        tracing::info!(
                            "markers of producer {}: a newer coordinator has taken over",
                            decision.producer_id
                        );
                        return false;
                    }
                    for done in answer.written {
                        pending.remove(&done);
                    }
                }
                Err(e) => tracing::debug!("markers to {addr} not written yet: {e}"),
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    true
}

/// The real channel: leaders from this broker's metadata image, requests over the network.
pub(crate) struct BrokerChannel {
    pub broker: Arc<Broker>,
    /// The `__transaction_state` partition and leader epoch the decision was made under.
    pub partition: i32,
    pub leader_epoch: i32,
}

impl MarkerChannel for BrokerChannel {
    fn leader_of(&self, topic: &str, partition: i32) -> Placement {
        let image = self.broker.image();
        let Some(leader) = image
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .map(|p| p.leader)
        else {
            return Placement::Gone;
        };
        match image.brokers.get(&leader).filter(|b| !b.fenced) {
            Some(b) => Placement::Leader(format!("{}:{}", b.host, b.port)),
            None => Placement::Leaderless,
        }
    }

    async fn send(
        &self,
        addr: &str,
        request: WriteTxnMarkersRequest,
    ) -> Result<WriteTxnMarkersResponse, ProtocolError> {
        let mut conn = self.broker.connect_peer(addr).await?;
        conn.call(&request, WRITE_TXN_MARKERS_VERSION, REQUEST_TIMEOUT)
            .await
    }

    fn still_coordinating(&self) -> bool {
        self.broker
            .partition(TRANSACTION_STATE_TOPIC, self.partition)
            .is_some_and(|r| {
                let st = r.state();
                st.role == Role::Leader && st.leader_epoch == self.leader_epoch
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use kafka_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };

    use super::*;

    /// A cluster of fake leaders: records every request, answers per partition from a script
    /// (default 0), and can move a partition's leader when it answers NOT_LEADER_OR_FOLLOWER.
    #[derive(Default)]
    struct Fake {
        leaders: Mutex<HashMap<(String, i32), String>>,
        /// Error codes a leader answers, in turn, for a partition; empty means 0.
        script: Mutex<HashMap<(String, i32), Vec<i16>>>,
        /// A partition's leader after its first refusal.
        moves_to: Mutex<HashMap<(String, i32), String>>,
        sent: Mutex<Vec<(String, WriteTxnMarkersRequest)>>,
        deposed: AtomicBool,
    }

    impl MarkerChannel for Fake {
        fn leader_of(&self, topic: &str, partition: i32) -> Placement {
            if topic.starts_with("deleted") {
                return Placement::Gone;
            }
            let leaders = self.leaders.lock().unwrap();
            match leaders.get(&(topic.to_string(), partition)) {
                Some(addr) => Placement::Leader(addr.clone()),
                None => Placement::Leaderless,
            }
        }

        async fn send(
            &self,
            addr: &str,
            request: WriteTxnMarkersRequest,
        ) -> Result<WriteTxnMarkersResponse, ProtocolError> {
            self.sent
                .lock()
                .unwrap()
                .push((addr.to_string(), request.clone()));
            let marker = &request.markers[0];
            let topics = marker
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|p| {
                            let key = (t.name.to_string(), *p);
                            let mut script = self.script.lock().unwrap();
                            let queued = script.entry(key.clone()).or_default();
                            let code = if queued.is_empty() {
                                0
                            } else {
                                queued.remove(0)
                            };
                            if code == ResponseError::NotLeaderOrFollower.code() {
                                if let Some(to) = self.moves_to.lock().unwrap().remove(&key) {
                                    self.leaders.lock().unwrap().insert(key, to);
                                }
                            }
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(*p)
                                .with_error_code(code)
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            Ok(WriteTxnMarkersResponse::default().with_markers(vec![
                WritableTxnMarkerResult::default()
                    .with_producer_id(marker.producer_id)
                    .with_topics(topics),
            ]))
        }

        fn still_coordinating(&self) -> bool {
            !self.deposed.load(Ordering::SeqCst)
        }
    }

    fn decision(partitions: &[(&str, i32)]) -> Decision {
        Decision {
            producer_id: 42,
            producer_epoch: 3,
            coordinator_epoch: 5,
            commit: true,
            partitions: partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
        }
    }

    fn lead(fake: &Fake, topic: &str, p: i32, addr: &str) {
        let mut leaders = fake.leaders.lock().unwrap();
        leaders.insert((topic.to_string(), p), addr.to_string());
    }

    #[tokio::test]
    async fn each_leader_gets_one_request_for_its_partitions() {
        let fake = Fake::default();
        lead(&fake, "a", 0, "b1:9092");
        lead(&fake, "a", 1, "b2:9092");
        lead(&fake, "b", 0, "b1:9092");
        assert!(write_markers(&fake, &decision(&[("a", 0), ("a", 1), ("b", 0)])).await);
        let sent = fake.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        let (addr, to_b1) = &sent[0];
        assert_eq!(addr, "b1:9092");
        let m = &to_b1.markers[0];
        assert_eq!((m.producer_id.0, m.producer_epoch), (42, 3));
        assert_eq!((m.coordinator_epoch, m.transaction_result), (5, true));
        assert_eq!(m.topics.len(), 2, "a-0 and b-0 in one request");
    }

    #[tokio::test]
    async fn a_moved_leader_gets_the_marker_on_the_next_try() {
        let fake = Fake::default();
        lead(&fake, "a", 0, "old:1");
        lead(&fake, "a", 1, "old:1");
        let key = ("a".to_string(), 0);
        let refusal = ResponseError::NotLeaderOrFollower.code();
        fake.script
            .lock()
            .unwrap()
            .insert(key.clone(), vec![refusal]);
        fake.moves_to.lock().unwrap().insert(key, "new:2".into());
        assert!(write_markers(&fake, &decision(&[("a", 0), ("a", 1)])).await);
        let sent = fake.sent.lock().unwrap();
        let addrs: Vec<&str> = sent.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(addrs, vec!["old:1", "new:2"]);
        assert_eq!(
            sent[1].1.markers[0].topics[0].partition_indexes,
            vec![0],
            "only the unfinished partition is sent again"
        );
    }

    #[tokio::test]
    async fn a_leaderless_partition_waits_and_deleted_ones_are_done() {
        let fake = Fake::default();
        // "later" has no leader at first; "deleted" is no longer in the metadata at all.
        let d = decision(&[("later", 0), ("deleted", 0)]);
        let sending = write_markers(&fake, &d);
        let electing = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            lead(&fake, "later", 0, "b2:1");
        };
        let (done, ()) = tokio::join!(sending, electing);
        assert!(done);
        let sent = fake.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "nothing is sent for the deleted topic");
        assert_eq!(sent[0].0, "b2:1");
    }

    /// A leader behind on metadata does not know the partition yet: that is no proof the
    /// topic is gone, so the marker is sent again until the leader takes it.
    #[tokio::test]
    async fn unknown_topic_or_partition_from_a_leader_is_tried_again() {
        let fake = Fake::default();
        lead(&fake, "new", 0, "b1:1");
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        fake.script
            .lock()
            .unwrap()
            .insert(("new".to_string(), 0), vec![unknown]);
        assert!(write_markers(&fake, &decision(&[("new", 0)])).await);
        assert_eq!(fake.sent.lock().unwrap().len(), 2);
    }

    /// A leader that has seen a newer coordinator's marker for this producer refuses ours:
    /// this broker was deposed without knowing it, and stops sending.
    #[tokio::test]
    async fn a_coordinator_fenced_by_a_leader_stops_sending() {
        for refusal in [
            ResponseError::TransactionCoordinatorFenced,
            ResponseError::InvalidProducerEpoch,
        ] {
            let fake = Fake::default();
            lead(&fake, "a", 0, "b1:1");
            lead(&fake, "a", 1, "b1:1");
            fake.script
                .lock()
                .unwrap()
                .insert(("a".to_string(), 0), vec![refusal.code()]);
            assert!(!write_markers(&fake, &decision(&[("a", 0), ("a", 1)])).await);
            assert_eq!(
                fake.sent.lock().unwrap().len(),
                1,
                "no retry after {refusal:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_deposed_coordinator_stops_sending() {
        let fake = Fake::default();
        // No leader ever: the sender would wait forever if it did not notice.
        let d = decision(&[("a", 0)]);
        let sending = write_markers(&fake, &d);
        let deposing = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            fake.deposed.store(true, Ordering::SeqCst);
        };
        let (done, ()) = tokio::join!(sending, deposing);
        assert!(!done);
        assert!(fake.sent.lock().unwrap().is_empty());
    }
}
