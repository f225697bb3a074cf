use super::*;
use crate::protocol::records::split_batches;

/// A one-record batch as a producer sends it.
fn batch() -> Vec<(BatchHeader, Bytes)> {
    let bytes = crate::protocol::records::tests::batch_of(&["v"]);
    split_batches(&bytes).unwrap()
}

fn leader(isr: &[i32], min_isr: i32) -> Arc<Partition> {
    let p = Arc::new(Partition::new("t", Uuid::nil(), 0, Default::default()));
    let image = PartitionImage {
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        leader: 1,
        leader_epoch: 4,
        partition_epoch: 7,
    };
    assert_eq!(p.apply_metadata(1, &image, min_isr, Instant::now()), None);
    p
}

#[test]
fn acks_all_completes_when_every_in_sync_follower_has_fetched_past_the_write() {
    let p = leader(&[1, 2, 3], 2);
    let write = p.append_as_leader(1, &batch(), -1).unwrap();
    assert_eq!((write.base_offset, write.last_offset), (0, 0));
    assert_eq!(p.replication(&write), Replication::Pending);
    let mut hw = p.watch_high_watermark();
    let now = Instant::now();
    let f = p.record_follower_fetch(1, 2, 1, true, now).unwrap();
    assert!(!f.high_watermark_moved, "follower 3 has not fetched yet");
    assert_eq!(p.replication(&write), Replication::Pending);
    let f = p.record_follower_fetch(1, 3, 1, true, now).unwrap();
    assert!(f.high_watermark_moved);
    assert!(hw.has_changed().unwrap());
    assert_eq!(*hw.borrow_and_update(), 1);
    assert_eq!(p.replication(&write), Replication::Done);
}

#[test]
fn a_small_isr_refuses_acks_all_before_appending() {
    let p = leader(&[1], 2);
    let refused = p.append_as_leader(1, &batch(), -1).unwrap_err();
    assert_eq!(refused.code, ResponseError::NotEnoughReplicas);
    assert_eq!(p.offsets(), (0, 0), "nothing was written");
    let written = p.append_as_leader(1, &batch(), 1).unwrap();
    assert_eq!(
        p.replication(&written),
        Replication::Failed(KafkaError::new(
            ResponseError::NotEnoughReplicasAfterAppend,
            "written, but the ISR [1] shrank below min.insync.replicas",
        ))
    );
}

#[test]
fn a_lagging_follower_is_proposed_out_and_a_caught_up_one_back_in() {
    let p = leader(&[1, 2, 3], 1);
    let t0 = Instant::now();
    let lag = Duration::from_millis(1500);
    p.append_as_leader(1, &batch(), 1).unwrap();
    p.record_follower_fetch(1, 2, 1, true, t0).unwrap();
    let later = t0 + Duration::from_millis(1600);
    p.record_follower_fetch(1, 2, 1, true, later).unwrap();
    let shrink = p.maybe_shrink_isr(1, later, lag).expect("3 lagged");
    assert_eq!(shrink.new_isr, vec![1, 2]);
    assert!(
        p.maybe_shrink_isr(1, later, lag).is_none(),
        "one change at a time"
    );
    assert!(p.complete_isr_change(1, &shrink, Ok((vec![1, 2], 8))));
    assert_eq!(p.offsets(), (1, 1), "without 3 the write is committed");
    let back = p.record_follower_fetch(1, 3, 1, true, later).unwrap();
    assert_eq!(back.proposal.expect("3 caught up").new_isr, vec![1, 2, 3]);
}

#[test]
fn a_leadership_change_fails_waiting_writes_and_a_follower_truncates_to_the_leader() {
    let p = leader(&[1, 2, 3], 1);
    let write = p.append_as_leader(1, &batch(), -1).unwrap();
    let image = PartitionImage {
        replicas: vec![1, 2, 3],
        isr: vec![2, 3],
        leader: 2,
        leader_epoch: 5,
        partition_epoch: 8,
    };
    assert_eq!(p.apply_metadata(1, &image, 1, Instant::now()), Some(2));
    assert!(matches!(p.replication(&write), Replication::Failed(_)));
    assert!(p.state().needs_truncation);
    // The new leader never had the write: its epoch 4 ended at offset 0.
    p.truncate_to_leader(1, Some((4, 0)));
    assert_eq!(p.offsets().0, 0, "the unreplicated write is gone");
    assert!(!p.state().needs_truncation);
}

/// A follower fetching again from where it already was cannot move the high watermark, and
/// is not asked to; what else can move it (an ISR that shrinks in the metadata, an expansion
/// the controller refuses) moves it where it changes.
#[test]
fn the_high_watermark_moves_where_its_inputs_change() {
    let p = leader(&[1, 2, 3], 1);
    let now = Instant::now();
    p.append_as_leader(1, &batch(), -1).unwrap();
    let first = p.record_follower_fetch(1, 2, 1, true, now).unwrap();
    assert!(!first.high_watermark_moved, "3 has not fetched yet");
    let again = p.record_follower_fetch(1, 2, 1, true, now).unwrap();
    assert!(!again.high_watermark_moved, "3 still holds it back");
    assert_eq!(p.offsets(), (1, 0));

    // The controller drops 3 from the ISR: the write is committed at once, no fetch needed.
    let shrunk = PartitionImage {
        replicas: vec![1, 2, 3],
        isr: vec![1, 2],
        leader: 1,
        leader_epoch: 4,
        partition_epoch: 8,
    };
    assert_eq!(p.apply_metadata(1, &shrunk, 1, now), None);
    assert_eq!(p.offsets(), (1, 1));

    // 3 catches up to the high watermark, so its return is proposed; until the controller
    // answers it counts, and holds back the next write.
    let proposal = p
        .record_follower_fetch(1, 3, 1, true, now)
        .unwrap()
        .proposal
        .expect("3 caught up");
    p.append_as_leader(1, &batch(), -1).unwrap();
    p.record_follower_fetch(1, 2, 2, true, now).unwrap();
    assert_eq!(p.offsets(), (2, 1), "the pending member 3 is at 1");
    // The controller refuses it: 3 no longer counts, and the write is committed.
    assert!(p.complete_isr_change(
        1,
        &proposal,
        Err(ResponseError::InvalidUpdateVersion.code())
    ));
    assert_eq!(p.offsets(), (2, 2));
}
