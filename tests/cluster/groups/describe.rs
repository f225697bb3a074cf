//! What admin clients see of groups: DescribeGroups, ListGroups and DeleteGroups through
//! kafka-python, and what Kafka 4 clients ask (ListGroups' type filter, authorized
//! operations).

use std::time::Duration;

use super::{all_partitions_owned_once, assignments};
use crate::members::Member;
use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn describe_and_list_groups_through_kafka_python() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("described");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let members: Vec<Member> = (0..2)
            .map(|i| Member::start(&cluster.bootstrap(), &topic, &group, &[("client.id", if i == 0 { "alpha" } else { "beta" })], false))
            .collect();
        // Both must own some: the first member alone owns all 8 until the second has joined.
        wait_for(
            "the two members to share every partition",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| all_partitions_owned_once(a, 8) && a.iter().all(|m| !m.is_empty()),
        )
        .await;
        let script = r#"
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
g = a.describe_consumer_groups([sys.argv[2]])[0]
listed = [x[0] for x in a.list_consumer_groups()]
parts = sorted(p for m in g.members for t in m.member_assignment.assignment for p in t[1])
print(g.state, sorted(m.client_id for m in g.members), sorted(set(m.client_host for m in g.members)), parts, sys.argv[2] in listed)
"#;
        let (b, g) = (cluster.bootstrap(), group.clone());
        let out = tokio::task::spawn_blocking(move || std::process::Command::new("/usr/bin/python3").args(["-c", script, &b, &g]).output())
            .await
            .unwrap()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.trim(), "Stable ['alpha', 'beta'] ['/127.0.0.1'] [0, 1, 2, 3, 4, 5, 6, 7] True");
        drop(members);
        // Once empty, the group can be deleted and disappears from ListGroups.
        let delete = r#"
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
print(a.describe_consumer_groups([sys.argv[2]])[0].state, [str(e[1].__name__) for e in a.delete_consumer_groups([sys.argv[2]])], sys.argv[2] in [x[0] for x in a.list_consumer_groups()])
"#;
        let (b, g) = (cluster.bootstrap(), group.clone());
        let out = tokio::task::spawn_blocking(move || std::process::Command::new("/usr/bin/python3").args(["-c", delete, &b, &g]).output())
            .await
            .unwrap()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.trim(), "Empty ['NoError'] False");
    })
    .await;
}

/// What Kafka 4 clients ask of groups and metadata: ListGroups v5 filters by group type (every
/// group here is classic), and authorized operations, when asked for, are all of Kafka's
/// operations on the resource (there is no authorizer: allow-all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_groups_filters_by_type_and_authorized_operations_are_reported_when_asked() {
    use kafka_protocol::messages::{
        DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest,
        DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse, MetadataRequest,
        MetadataResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("ops");
        let group = unique("g");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let member = Member::start(&cluster.bootstrap(), &topic, &group, &[], false);
        wait_for(
            "the member to be assigned",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 1,
        )
        .await;
        let s = |v: &str| StrBytes::from_string(v.to_string());
        let mut listed = Vec::new();
        let mut described = None;
        for id in cluster.broker_ids() {
            let mut conn = broker_connection(&cluster, id, "ops-test").await;
            for (filter, into) in [(vec![s("Classic")], true), (vec![s("consumer")], false)] {
                let r: ListGroupsResponse = conn
                    .call(
                        &ListGroupsRequest::default().with_types_filter(filter),
                        5,
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
                for g in r.groups.iter().filter(|g| g.group_id.as_str() == group) {
                    listed.push((into, g.group_type.to_string()));
                }
            }
            let d: DescribeGroupsResponse = conn
                .call(
                    &DescribeGroupsRequest::default()
                        .with_groups(vec![GroupId(s(&group))])
                        .with_include_authorized_operations(true),
                    5,
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            if d.groups[0].error_code == 0 && d.groups[0].group_state.as_str() != "Dead" {
                described = Some(d.groups[0].authorized_operations);
            }
        }
        assert_eq!(listed, vec![(true, "classic".to_string())]);
        // READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
        assert_eq!(described, Some(0b1101_0100_1000));
        let mut conn = broker_connection(&cluster, 1, "ops-test").await;
        let m: MetadataResponse = conn
            .call(
                &MetadataRequest::default()
                    .with_topics(None)
                    .with_include_topic_authorized_operations(true),
                12,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
            .unwrap();
        assert_eq!(t.topic_authorized_operations, 0b1101_1111_1000);
        let not_asked: MetadataResponse = conn
            .call(
                &MetadataRequest::default().with_topics(None),
                12,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(not_asked
            .topics
            .iter()
            .all(|t| t.topic_authorized_operations == i32::MIN));
        let c: DescribeClusterResponse = conn
            .call(
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
                1,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_ne!(
            c.cluster_authorized_operations & (1 << 9),
            0,
            "CLUSTER_ACTION"
        );
        member.close();
    })
    .await;
}
