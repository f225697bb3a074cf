//! Shared fixtures for the group's unit tests: requests, fresh tokens, and finding the reply a
//! request got among a transition's replies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic::Group;
use super::types::{
    GroupLimits, JoinRequest, JoinResult, Reply, RequestToken, SyncRequest, SyncResult,
};

/// Limits without an initial delay, so a lone member's join completes at once.
pub(crate) const LIMITS: GroupLimits = GroupLimits {
    min_session_timeout: Duration::from_millis(500),
    max_session_timeout: Duration::from_secs(60),
    initial_rebalance_delay: Duration::ZERO,
};

/// A JoinGroup v4+ from `client`: session timeout 3 s, rebalance timeout 5 s.
pub fn request(member_id: &str, client: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: client.into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(3),
        rebalance_timeout: Duration::from_secs(5),
        protocol_type: "consumer".into(),
        protocols: vec![
            ("range".into(), Bytes::from_static(b"m")),
            ("roundrobin".into(), Bytes::new()),
        ],
        require_known_member_id: true,
    }
}

/// A SyncGroup of a dynamic member.
pub(crate) fn sync_request(
    member_id: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        generation,
        assignments,
    }
}

/// A token no other request in the test run has.
pub(crate) fn token() -> RequestToken {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    RequestToken(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The JoinGroup answer addressed to `to`, if the replies have one.
pub(crate) fn join_reply(replies: &[Reply], to: RequestToken) -> Option<&JoinResult> {
    replies.iter().find_map(|r| match r {
        Reply::Join { to: t, result } if *t == to => Some(result),
        _ => None,
    })
}

/// The SyncGroup answer addressed to `to`, if the replies have one.
pub(crate) fn sync_reply(replies: &[Reply], to: RequestToken) -> Option<&SyncResult> {
    replies.iter().find_map(|r| match r {
        Reply::Sync { to: t, result } if *t == to => Some(result),
        _ => None,
    })
}

/// Joins a new member through the MEMBER_ID_REQUIRED round trip. Returns its member id, the
/// token of its second JoinGroup, and that JoinGroup's replies.
pub(crate) fn join_new(
    g: &mut Group,
    client: &str,
    now: Instant,
) -> (String, RequestToken, Vec<Reply>) {
    let first = token();
    let replies = g.join(request("", client), first, &LIMITS, now);
    let answer = join_reply(&replies, first).expect("answered at once");
    assert_eq!(answer.error, Some(ResponseError::MemberIdRequired));
    let id = answer.member_id.clone();
    let to = token();
    let replies = g.join(request(&id, client), to, &LIMITS, now);
    (id, to, replies)
}
