//! The partition log's own rules, without a broker: appends as leader and follower, the log
//! start, truncation and the epoch cache, idempotent retries, and lookups by timestamp.

use super::*;
use crate::protocol::records::{split_batches, split_trusted, tests::batch_of};

fn leader_append(log: &mut PartitionLog, values: &[&str], epoch: i32) -> Appended {
    let batches = split_batches(&batch_of(values)).unwrap();
    log.append_as_leader(&batches, epoch).unwrap()
}

fn idempotent(values: &[&str], pid: i64, seq: i32) -> Vec<(BatchHeader, Bytes)> {
    let mut raw = batch_of(values).to_vec();
    raw[43..51].copy_from_slice(&pid.to_be_bytes());
    raw[51..53].copy_from_slice(&0i16.to_be_bytes());
    raw[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
    split_batches(&Bytes::from(raw)).unwrap()
}

#[test]
fn leader_assigns_consecutive_offsets_and_reads_stop_at_the_bound() {
    let mut log = PartitionLog::default();
    assert_eq!(leader_append(&mut log, &["a", "b"], 0).base_offset, 0);
    assert_eq!(leader_append(&mut log, &["c"], 0).base_offset, 2);
    assert_eq!(log.log_end_offset(), 3);
    let upto_hw = split_trusted(&log.read(0, 2, 1 << 20));
    assert_eq!(upto_hw.len(), 1, "the second batch is above the bound");
    let all = split_trusted(&log.read(1, 3, 1 << 20));
    assert_eq!(
        all.len(),
        2,
        "a read from the middle of a batch returns that batch"
    );
    assert_eq!(
        split_trusted(&log.read(0, 3, 1)).len(),
        1,
        "at least one batch"
    );
}

#[test]
fn the_log_start_moves_forward_only_and_drops_whole_batches_before_it() {
    let mut log = PartitionLog::default();
    leader_append(&mut log, &["a", "b"], 0);
    leader_append(&mut log, &["c"], 0);
    leader_append(&mut log, &["d"], 0);
    log.advance_log_start(1);
    assert_eq!(log.log_start_offset(), 1);
    assert_eq!(
        split_trusted(&log.read(1, 4, 1 << 20)).len(),
        3,
        "the batch holding offset 1 stays"
    );
    log.advance_log_start(3);
    log.advance_log_start(2);
    assert_eq!(log.log_start_offset(), 3, "never back");
    assert_eq!(split_trusted(&log.read(0, 4, 1 << 20)).len(), 1);
    log.advance_log_start(99);
    assert_eq!(log.log_start_offset(), 4, "never past the log end");
    // Truncating an empty log keeps its start; a full restart moves everything.
    log.truncate_to(4);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 4));
    log.restart_at(10);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark()
        ),
        (10, 10, 10)
    );
    assert_eq!(leader_append(&mut log, &["e"], 1).base_offset, 10);
}

#[test]
fn follower_copy_truncation_and_epoch_lookup() {
    let mut leader = PartitionLog::default();
    leader_append(&mut leader, &["a"], 0);
    leader_append(&mut leader, &["b"], 0);
    leader_append(&mut leader, &["c"], 2);
    let mut follower = PartitionLog::default();
    follower
        .append_as_follower(split_trusted(&leader.read(0, 3, 1 << 20)))
        .unwrap();
    assert_eq!(follower.log_end_offset(), 3);
    assert_eq!(follower.end_offset_for_epoch(0), (0, 2));
    assert_eq!(follower.end_offset_for_epoch(1), (0, 2));
    assert_eq!(follower.end_offset_for_epoch(5), (2, 3));
    follower.set_high_watermark(3);
    follower.truncate_to(2);
    assert_eq!(follower.log_end_offset(), 2);
    assert_eq!(follower.high_watermark(), 2);
    assert_eq!(follower.latest_epoch(), Some(0));
    // Re-appending the same batches is idempotent; a gap is refused.
    follower
        .append_as_follower(split_trusted(&leader.read(0, 3, 1 << 20)))
        .unwrap();
    assert_eq!(follower.log_end_offset(), 3);
    let mut empty = PartitionLog::default();
    assert!(empty
        .append_as_follower(split_trusted(&leader.read(2, 3, 1 << 20)))
        .is_err());
}

#[test]
fn idempotent_retries_are_not_written_twice() {
    let mut log = PartitionLog::default();
    let first = log
        .append_as_leader(&idempotent(&["a", "b"], 7, 0), 0)
        .unwrap();
    let retry = log
        .append_as_leader(&idempotent(&["a", "b"], 7, 0), 0)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, log.log_end_offset()),
        (first.base_offset, 2)
    );
    let gap = log
        .append_as_leader(&idempotent(&["c"], 7, 5), 0)
        .unwrap_err();
    assert_eq!(gap.code, ResponseError::OutOfOrderSequenceNumber);
    log.append_as_leader(&idempotent(&["c"], 7, 2), 0).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

/// A producer retries a batch whose acknowledgement was lost while leadership moved: the new
/// leader knows the batch from replication (and from replaying its log after a truncation),
/// so it answers with the original offsets, never a success without one.
#[test]
fn a_new_leader_answers_a_retry_with_the_original_offsets() {
    let mut leader = PartitionLog::default();
    leader
        .append_as_leader(&idempotent(&["x"], 3, 0), 0)
        .unwrap();
    let first = leader
        .append_as_leader(&idempotent(&["a", "b"], 3, 1), 0)
        .unwrap();
    let mut follower = PartitionLog::default();
    follower
        .append_as_follower(split_trusted(&leader.read(0, 3, 1 << 20)))
        .unwrap();
    follower.start_epoch(1);
    let retry = follower
        .append_as_leader(&idempotent(&["a", "b"], 3, 1), 1)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (1, 2));
    assert_eq!(retry.base_offset, first.base_offset);
    // A truncation rebuilds the producer state from the batches kept.
    follower.truncate_to(3);
    follower
        .append_as_leader(&idempotent(&["c"], 3, 3), 1)
        .unwrap();
    follower.truncate_to(3);
    let again = follower
        .append_as_leader(&idempotent(&["a", "b"], 3, 1), 1)
        .unwrap();
    assert_eq!((again.base_offset, again.duplicate), (1, true));
}

#[test]
fn finds_offsets_by_timestamp() {
    let mut log = PartitionLog::default();
    leader_append(&mut log, &["a", "b", "c"], 0); // timestamps 1000, 1001, 1002
    assert_eq!(log.offset_for_timestamp(1001, 3), Some((1, 1001)));
    assert_eq!(log.offset_for_timestamp(5000, 3), None);
    assert_eq!(log.max_timestamp(3), Some((2, 1002)));
}

/// Appends `batch` (one transactional or control batch) as leader in epoch 0.
fn append_raw(log: &mut PartitionLog, batch: Bytes) -> Appended {
    let batches = split_batches(&batch).unwrap();
    log.append_as_leader(&batches, 0).unwrap()
}

#[test]
fn transactions_hold_back_the_stable_offset_and_aborts_are_indexed() {
    use crate::protocol::records::{marker_batch, tests::transactional_batch_of};
    let mut log = PartitionLog::default();
    leader_append(&mut log, &["plain"], 0);
    let committed = append_raw(&mut log, transactional_batch_of(&["c1", "c2"], 7, 0, 0));
    let aborted = append_raw(&mut log, transactional_batch_of(&["a1"], 8, 0, 0));
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(
        log.last_stable_offset(),
        committed.base_offset,
        "an open transaction holds the stable offset at its first record"
    );
    let commit = append_raw(&mut log, marker_batch(7, 0, true, 0, 1));
    let abort = append_raw(&mut log, marker_batch(8, 0, false, 0, 1));
    assert_eq!(
        log.last_stable_offset(),
        committed.base_offset,
        "markers above the high watermark decide nothing yet"
    );
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    assert_eq!(
        log.aborted_between(0, log.log_end_offset()),
        [AbortedTxn {
            producer_id: 8,
            first_offset: aborted.base_offset,
            last_offset: abort.base_offset,
        }]
    );
    assert!(log.aborted_between(commit.base_offset + 2, 100).is_empty());

    // A retried marker is appended but changes nothing; a marker of an older epoch is fenced.
    append_raw(&mut log, marker_batch(7, 0, true, 0, 1));
    let stale = split_batches(&marker_batch(7, 0, true, 0, 1)).unwrap();
    append_raw(&mut log, marker_batch(7, 1, false, 0, 1));
    let err = log.append_as_leader(&stale, 0).unwrap_err();
    assert_eq!(err.code, ResponseError::InvalidProducerEpoch);
    // The producer's next transaction (epoch 1 after the bump) starts its sequence at 0.
    append_raw(&mut log, transactional_batch_of(&["next"], 7, 1, 0));

    // Truncating below the abort marker reopens that transaction, as on a follower that
    // lost the marker with its leader.
    let mut follower = PartitionLog::default();
    follower
        .append_as_follower(split_trusted(&log.read(0, abort.base_offset, 1 << 20)))
        .unwrap();
    follower.set_high_watermark(follower.log_end_offset());
    assert_eq!(follower.last_stable_offset(), aborted.base_offset);
    follower.truncate_to(commit.base_offset);
    follower.set_high_watermark(follower.log_end_offset());
    assert_eq!(follower.last_stable_offset(), committed.base_offset);
}

#[test]
fn a_log_read_back_from_its_file_keeps_its_transactions() {
    use crate::protocol::records::{marker_batch, tests::transactional_batch_of};
    let dir = std::env::temp_dir().join(format!("ksb-log-txn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut log = PartitionLog::on_disk(&dir).unwrap();
    let open = append_raw(&mut log, transactional_batch_of(&["o"], 5, 0, 0));
    append_raw(&mut log, transactional_batch_of(&["x"], 6, 0, 0));
    append_raw(&mut log, marker_batch(6, 0, false, 0, 1));
    let end = log.log_end_offset();
    drop(log);

    let mut back = PartitionLog::on_disk(&dir).unwrap();
    assert_eq!(back.log_end_offset(), end);
    back.set_high_watermark(end);
    assert_eq!(back.last_stable_offset(), open.base_offset);
    assert_eq!(back.aborted_between(0, end).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A coordinator deposed without knowing it (paused, or cut off) retries a marker after its
/// successor has completed the transaction and the producer has begun its next one: the
/// marker carries the older coordinator epoch and is refused, so it cannot end a transaction
/// nobody decided.
#[test]
fn a_marker_from_a_deposed_coordinator_is_fenced_and_ends_nothing() {
    use crate::protocol::records::{marker_batch, tests::transactional_batch_of};
    let mut log = PartitionLog::default();
    append_raw(&mut log, transactional_batch_of(&["t1"], 9, 0, 0));
    // The new coordinator (epoch 5) commits the first transaction.
    append_raw(&mut log, marker_batch(9, 0, true, 5, 1));
    let next = append_raw(&mut log, transactional_batch_of(&["t2"], 9, 0, 1));
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.last_stable_offset(), next.base_offset);

    let late = split_batches(&marker_batch(9, 0, true, 4, 1)).unwrap();
    let err = log.append_as_leader(&late, 0).unwrap_err();
    assert_eq!(err.code, ResponseError::TransactionCoordinatorFenced);
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(
        log.last_stable_offset(),
        next.base_offset,
        "the open transaction is still open"
    );
    // The current coordinator's marker still ends it.
    append_raw(&mut log, marker_batch(9, 0, false, 5, 1));
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

#[test]
fn a_read_is_whole_batches_within_max_bytes_and_one_batch_is_shared_not_copied() {
    let mut log = PartitionLog::default();
    for v in ["a", "b", "c"] {
        leader_append(&mut log, &[v], 0);
    }
    let one = log.read(1, 2, 1 << 20);
    assert_eq!(
        one.as_ptr(),
        log.batches[1].bytes.as_ptr(),
        "shared with the log"
    );
    let len = one.len();
    let two = log.read(0, 3, 2 * len);
    assert_eq!(two.len(), 2 * len, "as many whole batches as fit");
    assert_eq!(&two[len..], &log.batches[1].bytes[..]);
    assert_eq!(
        log.read(0, 3, 1).len(),
        len,
        "at least one batch, whatever the limit"
    );
    assert!(log.read(3, 3, 1 << 20).is_empty());
}
