//! The controller's transitions, driven with explicit `now`.

use super::*;

const SESSION: Duration = Duration::from_millis(1500);

fn cluster(brokers: i32) -> (ControllerState, Instant) {
    let now = Instant::now();
    let mut c = ControllerState::new("test", TopicDefaults::default(), SESSION);
    for id in 1..=brokers {
        let epoch = c
            .register(id, Uuid::new_v4(), "127.0.0.1", 9000 + id as u16, None, now)
            .unwrap();
        c.take_committed();
        c.heartbeat(id, epoch, i64::MAX, false, now).unwrap();
        c.take_committed();
    }
    (c, now)
}

fn tutorial_topic(c: &mut ControllerState) {
    c.create_topic(
        &NewTopic {
            name: "t".into(),
            assignments: vec![
                vec![3, 2, 1],
                vec![1, 3, 2],
                vec![2, 1, 3],
                vec![3, 1, 2],
                vec![1, 2, 3],
                vec![2, 3, 1],
            ],
            ..Default::default()
        },
        false,
    )
    .unwrap();
}

fn heartbeat_all(c: &mut ControllerState, except: i32, at: Instant) {
    for id in 1..=3 {
        if id != except {
            let epoch = c.image().brokers[&id].epoch;
            c.heartbeat(id, epoch, i64::MAX, false, at).unwrap();
        }
    }
}

#[test]
fn a_registered_broker_stays_fenced_until_its_metadata_catches_up() {
    let now = Instant::now();
    let mut c = ControllerState::new("test", TopicDefaults::default(), SESSION);
    let epoch = c.register(1, Uuid::new_v4(), "h", 1, None, now).unwrap();
    let committed = c.take_committed().unwrap().offset;
    let reply = c.heartbeat(1, epoch, committed - 1, false, now).unwrap();
    assert!(reply.is_fenced && !reply.is_caught_up);
    let reply = c.heartbeat(1, epoch, committed, false, now).unwrap();
    assert!(!reply.is_fenced && reply.is_caught_up);
}

#[test]
fn losing_a_broker_elects_from_the_isr_and_shrinks_it() {
    let (mut c, now) = cluster(3);
    tutorial_topic(&mut c);
    let later = now + SESSION + Duration::from_millis(1);
    heartbeat_all(&mut c, 2, later);
    assert_eq!(c.expire_sessions(later), vec![2]);
    let t = &c.image().topics["t"];
    // Replicas 2,1,3 -> leader 1; replicas 2,3,1 -> leader 3 (replica order wins).
    assert_eq!(
        (t.partitions[2].leader, t.partitions[2].isr.clone()),
        (1, vec![1, 3])
    );
    assert_eq!(
        (t.partitions[5].leader, t.partitions[5].isr.clone()),
        (3, vec![3, 1])
    );
    for p in &t.partitions {
        assert_ne!(p.leader, 2);
        assert!(!p.isr.contains(&2));
    }
    assert_eq!(t.partitions[2].leader_epoch, 1);
    assert_eq!(
        t.partitions[0].leader_epoch, 0,
        "partitions 2 did not lead keep their epoch"
    );
}

#[test]
fn the_last_isr_member_stays_and_the_partition_goes_leaderless() {
    let (mut c, now) = cluster(3);
    c.create_topic(
        &NewTopic {
            name: "solo".into(),
            assignments: vec![vec![2]],
            ..Default::default()
        },
        false,
    )
    .unwrap();
    let later = now + SESSION * 2;
    heartbeat_all(&mut c, 2, later);
    c.expire_sessions(later);
    let p = &c.image().topics["solo"].partitions[0];
    assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![2]));
    // It comes back (new incarnation) and leads again once caught up.
    let epoch = c.register(2, Uuid::new_v4(), "h", 1, None, later).unwrap();
    c.heartbeat(2, epoch, i64::MAX, false, later).unwrap();
    assert_eq!(c.image().topics["solo"].partitions[0].leader, 2);
}

#[test]
fn unclean_election_picks_an_out_of_sync_replica() {
    let (mut c, now) = cluster(3);
    let mut configs = BTreeMap::new();
    configs.insert("unclean.leader.election.enable".into(), "true".into());
    c.create_topic(
        &NewTopic {
            name: "u".into(),
            assignments: vec![vec![1, 2]],
            configs,
            ..Default::default()
        },
        false,
    )
    .unwrap();
    let epoch1 = c.image().brokers[&1].epoch;
    let id = c.image().topics["u"].id;
    c.alter_partition(1, epoch1, id, 0, 0, 0, &[1], now)
        .unwrap();
    let later = now + SESSION * 2;
    heartbeat_all(&mut c, 1, later);
    c.expire_sessions(later);
    let p = &c.image().topics["u"].partitions[0];
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
}

#[test]
fn controlled_shutdown_moves_leadership_at_once() {
    let (mut c, now) = cluster(3);
    tutorial_topic(&mut c);
    let epoch = c.image().brokers[&3].epoch;
    let reply = c.heartbeat(3, epoch, i64::MAX, true, now).unwrap();
    assert!(reply.should_shut_down);
    for p in &c.image().topics["t"].partitions {
        assert_ne!(p.leader, 3);
        assert!(!p.isr.contains(&3));
    }
}

#[test]
fn alter_partition_rejects_stale_proposals() {
    let (mut c, now) = cluster(3);
    tutorial_topic(&mut c);
    let id = c.image().topics["t"].id;
    let e1 = c.image().brokers[&1].epoch;
    let e3 = c.image().brokers[&3].epoch;
    let err = c
        .alter_partition(3, e3, id, 1, 0, 0, &[3], now)
        .unwrap_err();
    assert_eq!(err.code, ResponseError::NotLeaderOrFollower);
    c.alter_partition(1, e1, id, 1, 0, 0, &[1, 3], now).unwrap();
    let err = c
        .alter_partition(1, e1, id, 1, 0, 0, &[1], now)
        .unwrap_err();
    assert_eq!(err.code, ResponseError::InvalidUpdateVersion);
    let p = c
        .alter_partition(1, e1, id, 1, 0, 1, &[1, 3, 2], now)
        .unwrap();
    assert_eq!(p.isr, vec![1, 3, 2]);
    assert_eq!(p.partition_epoch, 2);
}

/// A leader cut off from the controller stops heartbeating; an ISR shrink it sent before the
/// controller fenced it must not win, or the partition would be left with only the fenced
/// broker in its ISR. Refused, the fence elects from the full ISR.
#[test]
fn a_silent_leader_cannot_shrink_the_isr_to_itself_before_it_is_fenced() {
    let (mut c, now) = cluster(3);
    tutorial_topic(&mut c);
    let id = c.image().topics["t"].id;
    let p = c.image().topics["t"].partitions[1].clone();
    let leader = p.leader;
    let epoch = c.image().brokers[&leader].epoch;
    let later = now + SESSION * 2;
    heartbeat_all(&mut c, leader, later);
    let err = c
        .alter_partition(
            leader,
            epoch,
            id,
            1,
            p.leader_epoch,
            p.partition_epoch,
            &[leader],
            later,
        )
        .unwrap_err();
    assert_eq!(err.code, ResponseError::StaleBrokerEpoch);
    c.expire_sessions(later);
    let after = &c.image().topics["t"].partitions[1];
    assert_ne!(after.leader, leader);
    assert!(after.leader > 0, "a live ISR member leads");
}

/// A controller that was paused for longer than a session fences nobody at its first check
/// (it could not hear the heartbeats), then judges every broker from then on.
#[test]
fn a_controller_back_from_a_pause_starts_every_session_afresh() {
    let (mut c, now) = cluster(3);
    assert!(c.expire_sessions(now).is_empty());
    let back = now + SESSION * 3;
    assert!(
        c.expire_sessions(back).is_empty(),
        "nobody fenced for the controller's own gap"
    );
    let later = back + SESSION;
    heartbeat_all(&mut c, 2, later);
    assert!(
        c.expire_sessions(later).is_empty(),
        "a full session is not yet over it"
    );
    assert_eq!(c.expire_sessions(later + SESSION / 2), vec![2]);
}

#[test]
fn preferred_leaders_come_back_after_the_broker_returns() {
    let (mut c, now) = cluster(3);
    tutorial_topic(&mut c);
    let later = now + SESSION * 2;
    heartbeat_all(&mut c, 2, later);
    c.expire_sessions(later);
    let epoch = c.register(2, Uuid::new_v4(), "h", 1, None, later).unwrap();
    c.heartbeat(2, epoch, i64::MAX, false, later).unwrap();
    // Not yet in sync: nothing to give back.
    assert!(c.rebalance_preferred_leaders().is_empty());
    let id = c.image().topics["t"].id;
    for i in [2, 5] {
        let p = c.image().topics["t"].partitions[i].clone();
        let leader_epoch = c.image().brokers[&p.leader].epoch;
        let mut isr = p.isr.clone();
        isr.push(2);
        c.alter_partition(
            p.leader,
            leader_epoch,
            id,
            i as i32,
            p.leader_epoch,
            p.partition_epoch,
            &isr,
            later,
        )
        .unwrap();
    }
    let moved = c.rebalance_preferred_leaders();
    assert_eq!(moved, vec![("t".into(), 2), ("t".into(), 5)]);
    assert_eq!(c.image().topics["t"].partitions[2].leader, 2);
}

#[test]
fn create_topic_validates_like_kafka() {
    let (mut c, _) = cluster(3);
    let too_many = NewTopic {
        name: "x".into(),
        partitions: 1,
        replication: 4,
        ..Default::default()
    };
    assert_eq!(
        c.create_topic(&too_many, false).unwrap_err().code,
        ResponseError::InvalidReplicationFactor
    );
    let bad_name = NewTopic {
        name: "no spaces".into(),
        partitions: 1,
        replication: 1,
        ..Default::default()
    };
    assert_eq!(
        c.create_topic(&bad_name, false).unwrap_err().code,
        ResponseError::InvalidTopicException
    );
    let ok = NewTopic {
        name: "x".into(),
        partitions: 8,
        replication: 3,
        ..Default::default()
    };
    c.create_topic(&ok, false).unwrap();
    assert_eq!(
        c.create_topic(&ok, false).unwrap_err().code,
        ResponseError::TopicAlreadyExists
    );
    let mut bad_config = ok.clone();
    bad_config.name = "y".into();
    bad_config
        .configs
        .insert("min.insync.replicas".into(), "zero".into());
    assert_eq!(
        c.create_topic(&bad_config, false).unwrap_err().code,
        ResponseError::InvalidConfig
    );
}
