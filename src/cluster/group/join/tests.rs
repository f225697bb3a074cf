//! JoinGroup and join-phase completion, driven with explicit times.

use std::time::Duration;

use super::super::testing::{
    join_new, join_reply, request, sync_reply, sync_request, token, LIMITS,
};
use super::super::types::SyncRequest;
use super::*;

#[test]
fn a_first_member_gets_a_generation_and_leads() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let (id, to, replies) = join_new(&mut g, "c1", now);
    let joined = join_reply(&replies, to).expect("the only member completes the join at once");
    assert_eq!(
        (
            joined.generation,
            joined.leader.as_str(),
            joined.members.len()
        ),
        (1, id.as_str(), 1)
    );
    assert_eq!(joined.protocol.as_deref(), Some("range"));
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let sync = token();
    let assignment = vec![(id.clone(), Bytes::from_static(b"a1"))];
    let replies = g.sync(sync_request(&id, 1, assignment), sync, now);
    assert_eq!(
        sync_reply(&replies, sync).unwrap().assignment,
        Bytes::from_static(b"a1")
    );
    assert_eq!(g.state, GroupState::Stable);
}

#[test]
fn a_second_member_triggers_a_rebalance_that_waits_for_everyone() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let (a, _, _) = join_new(&mut g, "a", now);
    let _ = g.sync(sync_request(&a, 1, vec![]), token(), now);
    let (b, join_b, replies) = join_new(&mut g, "b", now);
    assert!(replies.is_empty(), "b waits for a to rejoin");
    assert_eq!(
        g.heartbeat(&a, None, 1, now),
        Err(ResponseError::RebalanceInProgress)
    );
    let join_a = token();
    let replies = g.join(request(&a, "a"), join_a, &LIMITS, now);
    let (ja, jb) = (
        join_reply(&replies, join_a).unwrap(),
        join_reply(&replies, join_b).unwrap(),
    );
    assert_eq!((ja.generation, jb.generation), (2, 2));
    assert_eq!(ja.members.len(), 2, "the leader sees every member");
    assert!(jb.members.is_empty());
    assert_eq!(ja.leader, a, "the leader stays");
    let sync_b = token();
    assert!(g.sync(sync_request(&b, 2, vec![]), sync_b, now).is_empty());
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
    ];
    let sync_a = token();
    let replies = g.sync(sync_request(&a, 2, assignments), sync_a, now);
    assert_eq!(
        sync_reply(&replies, sync_b).unwrap().assignment,
        Bytes::from_static(b"B")
    );
    assert_eq!(
        sync_reply(&replies, sync_a).unwrap().assignment,
        Bytes::from_static(b"A")
    );
    assert_eq!(g.heartbeat(&b, None, 2, now), Ok(()));
    assert_eq!(
        g.heartbeat(&b, None, 1, now),
        Err(ResponseError::IllegalGeneration)
    );
}

#[test]
fn the_leaders_join_reply_carries_every_members_metadata() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let with_metadata = |id: &str, client: &str, metadata: &'static [u8]| JoinRequest {
        protocols: vec![("range".into(), Bytes::from_static(metadata))],
        ..request(id, client)
    };
    let (a, _, _) = join_new(&mut g, "a", now);
    let (b, _, _) = join_new(&mut g, "b", now);
    let join_b = token();
    let _ = g.join(with_metadata(&b, "b", b"topics-b"), join_b, &LIMITS, now);
    let join_a = token();
    let replies = g.join(with_metadata(&a, "a", b"topics-a"), join_a, &LIMITS, now);
    let leader = join_reply(&replies, join_a).unwrap();
    assert_eq!(
        leader.members,
        vec![
            (a.clone(), None, Bytes::from_static(b"topics-a")),
            (b.clone(), None, Bytes::from_static(b"topics-b")),
        ]
    );
    assert!(join_reply(&replies, join_b).unwrap().members.is_empty());
}

#[test]
fn every_waiting_joiner_is_answered_when_the_join_completes() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let (a, _, _) = join_new(&mut g, "a", now);
    let (_, join_b, b_replies) = join_new(&mut g, "b", now);
    let (_, join_c, c_replies) = join_new(&mut g, "c", now);
    assert!(
        b_replies.is_empty() && c_replies.is_empty(),
        "a has not rejoined"
    );
    let join_a = token();
    let replies = g.join(request(&a, "a"), join_a, &LIMITS, now);
    assert_eq!(replies.len(), 3);
    for to in [join_a, join_b, join_c] {
        let joined = join_reply(&replies, to).expect("answered");
        assert_eq!((joined.error, joined.generation), (None, 2));
        assert_eq!(joined.leader, a);
    }
    assert_eq!(g.state, GroupState::CompletingRebalance);
}

#[test]
fn a_retried_join_supersedes_the_waiting_one() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let (a, _, _) = join_new(&mut g, "a", now);
    let (b, first, _) = join_new(&mut g, "b", now);
    let retry = token();
    let replies = g.join(request(&b, "b"), retry, &LIMITS, now);
    assert_eq!(
        join_reply(&replies, first).unwrap().error,
        Some(ResponseError::NotCoordinator)
    );
    let replies = g.join(request(&a, "a"), token(), &LIMITS, now);
    assert_eq!(join_reply(&replies, retry).unwrap().generation, 2);
}

#[test]
fn a_static_member_rejoining_a_stable_group_keeps_its_assignment_without_a_rebalance() {
    let now = Instant::now();
    let mut g = Group::new("g");
    let req = JoinRequest {
        group_instance_id: Some("instance-1".into()),
        ..request("", "s")
    };
    let static_sync = |member_id: &str, assignments| SyncRequest {
        group_instance_id: Some("instance-1".into()),
        ..sync_request(member_id, 1, assignments)
    };
    let to = token();
    let first = join_reply(&g.join(req.clone(), to, &LIMITS, now), to)
        .unwrap()
        .clone();
    let assignment = vec![(first.member_id.clone(), Bytes::from_static(b"P"))];
    let _ = g.sync(static_sync(&first.member_id, assignment), token(), now);
    let to = token();
    let replies = g.join(req, to, &LIMITS, now);
    let again = join_reply(&replies, to).expect("no rebalance: answered at once");
    assert_eq!(again.generation, 1);
    assert_ne!(again.member_id, first.member_id);
    assert_eq!(
        g.heartbeat(&first.member_id, Some("instance-1"), 1, now),
        Err(ResponseError::FencedInstanceId)
    );
    let to = token();
    let replies = g.sync(static_sync(&again.member_id.clone(), vec![]), to, now);
    assert_eq!(
        sync_reply(&replies, to).unwrap().assignment,
        Bytes::from_static(b"P")
    );
}

#[test]
fn a_new_group_waits_out_the_initial_rebalance_delay() {
    let limits = GroupLimits {
        initial_rebalance_delay: Duration::from_secs(3),
        ..LIMITS
    };
    let t0 = Instant::now();
    let mut g = Group::new("g");
    let to = token();
    let first = join_reply(&g.join(request("", "a"), to, &limits, t0), to)
        .unwrap()
        .clone();
    let to = token();
    assert!(g
        .join(request(&first.member_id, "a"), to, &limits, t0)
        .is_empty());
    let early = g.expire(&limits, t0 + Duration::from_secs(2));
    assert!(early.replies.is_empty(), "still waiting for more members");
    let due = g.expire(&limits, t0 + Duration::from_secs(3));
    assert_eq!(join_reply(&due.replies, to).unwrap().generation, 1);
}

#[test]
fn an_abandoned_member_id_does_not_hold_up_a_new_groups_first_join() {
    let t0 = Instant::now();
    let mut g = Group::new("g");
    // A client asks for a member id, then gives up (unsubscribes) and never returns.
    let to = token();
    let abandoned = join_reply(&g.join(request("", "gone"), to, &LIMITS, t0), to)
        .unwrap()
        .clone();
    assert_eq!(abandoned.error, Some(ResponseError::MemberIdRequired));
    let (_, to, replies) = join_new(&mut g, "c1", t0);
    assert_eq!(
        join_reply(&replies, to)
            .expect("completes without the abandoned id")
            .generation,
        1
    );
}

#[test]
fn a_pending_member_id_expires_after_its_session_timeout() {
    let t0 = Instant::now();
    let mut g = Group::new("g");
    let to = token();
    let _ = g.join(request("", "gone"), to, &LIMITS, t0);
    let _ = g.expire(&LIMITS, t0 + Duration::from_millis(2900));
    assert_eq!(g.pending.len(), 1, "its session timeout is 3 s");
    let _ = g.expire(&LIMITS, t0 + Duration::from_millis(3001));
    assert!(g.pending.is_empty());
}

#[test]
fn session_timeouts_outside_the_limits_are_refused() {
    let mut g = Group::new("g");
    let req = JoinRequest {
        session_timeout: Duration::from_millis(100),
        ..request("", "c")
    };
    let to = token();
    let replies = g.join(req, to, &LIMITS, Instant::now());
    assert_eq!(
        join_reply(&replies, to).unwrap().error,
        Some(ResponseError::InvalidSessionTimeout)
    );
}
