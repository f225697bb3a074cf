//! What the coordinator leaves in `__transaction_state`, and how a new coordinator gets the
//! transactions back from it.
//!
//! One record per state change, keyed by transactional id: the key is
//! `{"transactional_id": "<id>"}` and the value the whole [`Transaction`] (producer id and
//! epoch, timeout, state, partitions, start and update times). Keys and values are JSON, as
//! in `__consumer_offsets` here: this is a sandbox, and a learner reading the topic with any
//! consumer sees what the coordinator decided. (Kafka's own format is a versioned binary
//! schema; nothing outside the coordinator reads these records, so the sandbox need not
//! match it.) The topic is compacted: the last record of an id is its state.
//!
//! Replaying a partition (`replay`) keeps the last record of each id. Transactions replayed
//! in PrepareCommit or PrepareAbort had their decision recorded but perhaps not all their
//! markers written; the coordinator sends those markers again.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use serde::{Deserialize, Serialize};

use super::state::Transaction;
use crate::protocol::records::{self, now_millis, plain_record};

/// The key of a record in `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredKey {
    transactional_id: String,
}

/// Encodes transaction states as one v2 batch (offsets are assigned by the leader on append).
pub(crate) fn encode_batch(states: &[Transaction]) -> Bytes {
    let now = now_millis();
    let encoded: Vec<_> = states
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let key = StoredKey {
                transactional_id: t.transactional_id.clone(),
            };
            plain_record(i as i64, now, Some(json(&key)), Some(json(t)))
        })
        .collect();
    records::encode_batch(&encoded)
}

fn json<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("transaction records serialize"))
}

/// Decodes every transaction state in a run of batches read from the log, in log order;
/// records that are not this format (or tombstones) are skipped.
pub(crate) fn decode_records(mut bytes: Bytes) -> Vec<Transaction> {
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
        return Vec::new();
    };
    sets.into_iter()
        .flat_map(|s| s.records)
        .filter_map(|r| {
            let key: StoredKey = serde_json::from_slice(r.key.as_ref()?).ok()?;
            let state: Transaction = serde_json::from_slice(r.value.as_ref()?).ok()?;
            (state.transactional_id == key.transactional_id).then_some(state)
        })
        .collect()
}

/// Rebuilds the transactions of one partition: the last record of each id wins.
pub(crate) fn replay(states: Vec<Transaction>) -> HashMap<String, Transaction> {
    states
        .into_iter()
        .map(|t| (t.transactional_id.clone(), t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::txn::state::TxnState;

    #[test]
    fn states_round_trip_and_replay_keeps_the_last_word() {
        let first = Transaction::new("tx", 7, 60_000, 1000);
        let open = first
            .add_partitions(7, 0, &[("t".to_string(), 2)], 1001)
            .unwrap()
            .unwrap();
        let deciding = open.end(7, 0, true, 1002).unwrap().unwrap();
        let other = Transaction::new("other", 8, 1000, 1003);
        let batches = [
            encode_batch(&[first.clone(), other.clone()]),
            encode_batch(std::slice::from_ref(&open)),
            encode_batch(std::slice::from_ref(&deciding)),
        ]
        .concat();
        let decoded = decode_records(Bytes::from(batches));
        assert_eq!(decoded, vec![first, other.clone(), open, deciding.clone()]);
        let replayed = replay(decoded);
        assert_eq!(replayed.len(), 2);
        assert_eq!(replayed["tx"], deciding);
        assert_eq!(replayed["tx"].state, TxnState::PrepareCommit);
        assert_eq!(replayed["other"], other);
    }

    #[test]
    fn foreign_records_are_skipped() {
        let stray = records::encode_batch(&[plain_record(
            0,
            0,
            Some(Bytes::from_static(b"not json")),
            Some(Bytes::from_static(b"{}")),
        )]);
        assert!(decode_records(stray).is_empty());
    }
}
