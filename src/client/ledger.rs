//! The delivery ledger: what a script sent, what the brokers acknowledged, and what is really
//! in the topic afterwards, read back from the beginning. From these it reports messages lost
//! (acknowledged but gone), duplicated, and out of order within a partition.
//!
//! A send inside a transaction counts only as its transaction ends: committed values must be
//! there for a read_committed reader (or they are lost), aborted ones must not be (or an abort
//! leaked); both are in the log, which a read_uncommitted reader sees.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{watermarks, ClientError};

/// One `send` as the script made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Value sent (experiments make them unique).
    pub value: String,
    /// Where it was acknowledged, or the error.
    pub result: Result<(i32, i64), String>,
    /// The transaction it was sent in, if any, and how that ended.
    pub txn: Option<TxnState>,
}

/// Where the transaction of a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// Not ended yet (the transaction's number within the session).
    Open(u64),
    /// Committed: the value must be visible to read_committed readers.
    Committed,
    /// Aborted: the value must not be.
    Aborted,
}

/// What the topic holds, as readers of each isolation level see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Readings {
    /// What a read_committed reader gets (what counts as "in the topic").
    pub committed: Vec<Stored>,
    /// What a read_uncommitted reader gets, when any send was transactional.
    pub uncommitted: Option<Vec<Stored>>,
}

/// One record read back: (partition, offset, value).
pub(crate) type Stored = (i32, i64, String);

/// The ledger of one topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Ledger {
    /// Topic.
    pub topic: String,
    /// Sends attempted.
    pub sent: usize,
    /// Sends acknowledged.
    pub acknowledged: usize,
    /// Sends refused, with the first few errors.
    pub refused: usize,
    /// Records in the topic now.
    pub in_log: usize,
    /// Acknowledged values no longer in the topic.
    pub lost: Vec<String>,
    /// Values stored more than once.
    pub duplicated: Vec<String>,
    /// Values stored after a value that was sent later, within one partition.
    pub out_of_order: Vec<String>,
    /// Distinct error messages of refused sends.
    pub errors: Vec<String>,
    /// Transactional sends: how their transactions ended and what each reader sees of them.
    pub transactions: Option<TxnCounts>,
}

/// The transactional part of a ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct TxnCounts {
    /// Acknowledged sends whose transaction committed.
    pub committed: usize,
    /// Acknowledged sends whose transaction aborted.
    pub aborted: usize,
    /// Sends whose transaction has not ended.
    pub open: usize,
    /// Aborted values a read_committed reader sees anyway (should be none).
    pub aborted_visible: Vec<String>,
    /// Records a read_uncommitted reader sees (aborted and open ones included).
    pub uncommitted_in_log: usize,
}

/// Computes the ledger from what was sent and what readers see.
pub(crate) fn reconcile(topic: &str, sent: &[Sent], readings: &Readings) -> Ledger {
    let stored = &readings.committed;
    let order: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, s)| (s.value.as_str(), i))
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, _, v) in stored {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    // Only a committed (or non-transactional) acknowledgement promises the value is there.
    let promised = |s: &Sent| s.result.is_ok() && matches!(s.txn, None | Some(TxnState::Committed));
    let lost = sent
        .iter()
        .filter(|s| promised(s) && !counts.contains_key(s.value.as_str()))
        .map(|s| s.value.clone())
        .collect();
    let transactions = sent.iter().any(|s| s.txn.is_some()).then(|| {
        let ended = |state: TxnState| {
            sent.iter()
                .filter(|s| s.result.is_ok() && s.txn == Some(state))
                .count()
        };
        TxnCounts {
            committed: ended(TxnState::Committed),
            aborted: ended(TxnState::Aborted),
            open: sent
                .iter()
                .filter(|s| matches!(s.txn, Some(TxnState::Open(_))))
                .count(),
            // A value may be sent again after an abort (the restarted app writes the same
            // receipt): it leaked only if readers see more copies than were promised.
            aborted_visible: {
                let mut leaked: Vec<String> = sent
                    .iter()
                    .filter(|s| s.txn == Some(TxnState::Aborted))
                    .map(|s| s.value.as_str())
                    .filter(|v| {
                        let promised_copies =
                            sent.iter().filter(|s| s.value == *v && promised(s)).count();
                        counts.get(v).copied().unwrap_or(0) > promised_copies
                    })
                    .map(str::to_string)
                    .collect();
                leaked.dedup();
                leaked
            },
            uncommitted_in_log: readings.uncommitted.as_ref().map_or(0, Vec::len),
        }
    });
    let mut duplicated: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(v, _)| v.to_string())
        .collect();
    duplicated.sort();
    let mut by_partition: BTreeMap<i32, Vec<(i64, &str)>> = BTreeMap::new();
    for (p, o, v) in stored {
        by_partition.entry(*p).or_default().push((*o, v.as_str()));
    }
    let mut out_of_order = Vec::new();
    for records in by_partition.values_mut() {
        records.sort();
        let mut highest: Option<usize> = None;
        for (_, v) in records.iter() {
            if let Some(&i) = order.get(v) {
                if highest.is_some_and(|h| i < h) {
                    out_of_order.push(v.to_string());
                }
                highest = Some(highest.map_or(i, |h| h.max(i)));
            }
        }
    }
    let mut errors: Vec<String> = sent
        .iter()
        .filter_map(|s| s.result.as_ref().err().cloned())
        .collect();
    errors.sort();
    errors.dedup();
    Ledger {
        topic: topic.to_string(),
        sent: sent.len(),
        acknowledged: sent.iter().filter(|s| s.result.is_ok()).count(),
        refused: sent.iter().filter(|s| s.result.is_err()).count(),
        in_log: stored.len(),
        lost,
        duplicated,
        out_of_order,
        errors,
        transactions,
    }
}

fn first(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    let more = if list.len() > 5 {
        format!(" (+{} more)", list.len() - 5)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger of {}: sent {}, acknowledged {}, refused {}, in the topic {}, lost {}, duplicated {}, out of order {}",
            self.topic,
            self.sent,
            self.acknowledged,
            self.refused,
            self.in_log,
            self.lost.len(),
            self.duplicated.len(),
            self.out_of_order.len()
        )?;
        if !self.lost.is_empty() {
            writeln!(f, "  lost (acknowledged, then gone): {}", first(&self.lost))?;
        }
        if !self.duplicated.is_empty() {
            writeln!(f, "  duplicated: {}", first(&self.duplicated))?;
        }
        if !self.out_of_order.is_empty() {
            writeln!(f, "  out of order: {}", first(&self.out_of_order))?;
        }
        for e in self.errors.iter().take(3) {
            writeln!(f, "  refused with: {e}")?;
        }
        if let Some(t) = &self.transactions {
            writeln!(
                f,
                "  transactions: {} committed, {} aborted, {} not ended; a read_committed reader sees {} records, a read_uncommitted one {}",
                t.committed, t.aborted, t.open, self.in_log, t.uncommitted_in_log
            )?;
            if !t.aborted_visible.is_empty() {
                writeln!(
                    f,
                    "  aborted, yet visible to read_committed: {}",
                    first(&t.aborted_visible)
                )?;
            }
        }
        Ok(())
    }
}

/// Reads every record of `topic` from the beginning up to each partition's current end, as a
/// reader of `isolation` (`read_committed` or `read_uncommitted`) sees it: for read_committed
/// the end is the last stable offset, and markers and aborted records are skipped, so progress
/// is the reader's position, not the offsets of the records it got.
pub(crate) fn read_back(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
) -> Result<Vec<Stored>, ClientError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("kafka-sandbox-ledger-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.sparse.connections", "false")
        .set("isolation.level", isolation)
        .create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ClientError::UnknownTopic {
            topic: topic.to_string(),
            existing: md
                .topics()
                .iter()
                .map(|t| t.name().to_string())
                .filter(|n| !n.starts_with("__"))
                .collect(),
        });
    }
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        let high = watermarks::high_watermark(&consumer, topic, *p, Duration::from_secs(10))?;
        ends.insert(*p, high);
        tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut stored = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let at_end = |consumer: &BaseConsumer| -> bool {
        let Ok(positions) = consumer.position() else {
            return false;
        };
        ends.iter().all(|(p, end)| {
            *end <= 0
                || positions
                    .find_partition(topic, *p)
                    .and_then(|e| e.offset().to_raw())
                    .is_some_and(|pos| pos >= *end)
        })
    };
    while !at_end(&consumer) {
        if Instant::now() > deadline {
            return Err(ClientError::Timeout {
                what: format!("{topic} back to its end"),
                seconds: 20,
            });
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            stored.push((
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(value: &str, ok: bool) -> Sent {
        Sent {
            value: value.into(),
            result: if ok {
                Ok((0, 0))
            } else {
                Err("NotEnoughReplicas".into())
            },
            txn: None,
        }
    }

    fn readings(stored: Vec<Stored>) -> Readings {
        Readings {
            committed: stored,
            uncommitted: None,
        }
    }

    #[test]
    fn transactional_sends_count_as_their_transactions_end() {
        let in_txn = |value: &str, txn| Sent {
            txn: Some(txn),
            ..sent(value, true)
        };
        let sent = vec![
            in_txn("c", TxnState::Committed),
            in_txn("gone", TxnState::Committed),
            in_txn("a", TxnState::Aborted),
            in_txn("leak", TxnState::Aborted),
            in_txn("o", TxnState::Open(3)),
            // Aborted, then sent again and committed: one visible copy is the committed one.
            in_txn("again", TxnState::Aborted),
            in_txn("again", TxnState::Committed),
        ];
        let stored = vec![
            (0, 0, "c".to_string()),
            (0, 3, "leak".to_string()),
            (0, 6, "again".to_string()),
        ];
        let l = reconcile(
            "t",
            &sent,
            &Readings {
                committed: stored,
                uncommitted: Some(vec![(0, 0, String::new()); 5]),
            },
        );
        assert_eq!(l.lost, ["gone"], "only a committed value can be lost");
        let t = l.transactions.clone().unwrap();
        assert_eq!((t.committed, t.aborted, t.open), (3, 3, 1));
        assert_eq!(t.aborted_visible, ["leak"]);
        assert_eq!(t.uncommitted_in_log, 5);
        assert!(
            l.to_string()
                .contains("3 committed, 3 aborted, 1 not ended"),
            "{l}"
        );
    }

    #[test]
    fn counts_losses_duplicates_and_reordering() {
        let sent = vec![
            sent("a", true),
            sent("b", true),
            sent("c", true),
            sent("d", false),
        ];
        let stored = vec![
            (0, 0, "b".to_string()),
            (0, 1, "a".to_string()),
            (0, 2, "b".to_string()),
        ];
        let l = reconcile("t", &sent, &readings(stored));
        assert_eq!((l.sent, l.acknowledged, l.refused, l.in_log), (4, 3, 1, 3));
        assert_eq!(l.lost, vec!["c".to_string()]);
        assert_eq!(l.duplicated, vec!["b".to_string()]);
        assert_eq!(l.out_of_order, vec!["a".to_string()]);
        assert!(l.to_string().contains("lost 1"));
    }
}
