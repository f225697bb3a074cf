//! Consumer groups: find the coordinator, DescribeGroups and OffsetFetch there, and the log
//! ends from each partition's leader for the lag. While the coordinator does not answer (its
//! broker paused, cut off or just failed) the lookup is retried until it moves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, ConsumerProtocolAssignment, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    ListGroupsRequest, ListOffsetsRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::Decodable;

use super::layout::{GroupDescription, GroupMember, GroupOffset};
use super::{layout_of, refused, s, unreachable, Admin, Seen, GROUP_DEADLINE};
use crate::client::wire::{self, Answer, Silent};
use crate::client::ClientError;

fn decode_assignment(bytes: &[u8]) -> Vec<(String, i32)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut buf = Bytes::copy_from_slice(&bytes[2..]);
    match ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Admin {
    /// The group's coordinator: (broker id, address), asking any broker.
    async fn coordinator(&self, group: &str) -> Result<Answer<(i32, String)>, ClientError> {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(group)]);
        let answer = self
            .brokers
            .call_any(&request, 4, wire::ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        let Some(c) = answer.response.coordinators.first() else {
            return Err(ClientError::EmptyAnswer(format!(
                "the coordinator of group '{group}'"
            )));
        };
        if c.error_code != 0 {
            return Err(refused(
                format!("the coordinator of group '{group}'"),
                c.error_code,
                c.error_message.as_ref(),
            ));
        }
        Ok(Answer {
            response: (c.node_id.0, format!("{}:{}", c.host, c.port)),
            from: answer.from,
            silent: answer.silent,
        })
    }

    /// Every group the cluster knows, by name: ListGroups asked of every broker (each lists the
    /// groups it coordinates), the way `kafka-consumer-groups --list` does. Brokers that do
    /// not answer are left out, and named in the note.
    pub async fn list_groups(&self) -> Result<Seen<Vec<String>>, ClientError> {
        let md = self.metadata().await?;
        let mut silent = md.silent;
        let mut names = Vec::new();
        for b in &md.response.brokers {
            let addr = format!("{}:{}", b.host, b.port);
            match self
                .brokers
                .call_at(&addr, &ListGroupsRequest::default(), 4, wire::ATTEMPT)
                .await
            {
                Ok(listed) if listed.error_code == 0 => {
                    names.extend(listed.groups.iter().map(|g| g.group_id.to_string()))
                }
                Ok(_) => {}
                Err(e) => silent.push(Silent {
                    addr,
                    broker: Some(b.node_id.0),
                    why: e.to_string(),
                }),
            }
        }
        names.sort();
        names.dedup();
        Ok(Seen {
            value: names,
            note: wire::silent_note(&silent),
        })
    }

    /// DescribeGroups plus committed offsets and lag. While the group's coordinator does not
    /// answer (its broker paused, cut off or just failed) the lookup is retried until the
    /// coordinator moves, for 2.5 s at most.
    pub async fn describe_group(&self, name: &str) -> Result<Seen<GroupDescription>, ClientError> {
        let deadline = Instant::now() + GROUP_DEADLINE;
        let mut silent: Vec<Silent> = Vec::new();
        loop {
            let outcome = match self.coordinator(name).await {
                Ok(c) => {
                    silent.extend(c.silent);
                    let (id, addr) = c.response;
                    self.describe_at(name, id, &addr).await
                }
                Err(e) => Err(Attempt::Failed(e)),
            };
            let retry = match outcome {
                Ok((description, more)) => {
                    silent.extend(more);
                    silent.dedup();
                    return Ok(Seen {
                        value: description,
                        note: wire::silent_note(&silent),
                    });
                }
                Err(Attempt::Silent(s)) => {
                    let e = ClientError::Unreachable(format!(
                        "the coordinator of group '{name}' did not answer; {}",
                        s.describe()
                    ));
                    silent.push(s);
                    e
                }
                Err(Attempt::Failed(e)) => e,
            };
            let retriable = match &retry {
                ClientError::Refused { code, .. } => matches!(
                    code.as_str(),
                    "COORDINATOR_NOT_AVAILABLE"
                        | "NOT_COORDINATOR"
                        | "COORDINATOR_LOAD_IN_PROGRESS"
                ),
                ClientError::Unreachable(_) => true,
                _ => false,
            };
            if !retriable || Instant::now() >= deadline {
                return Err(retry);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// DescribeGroups and OffsetFetch at the coordinator, then the log ends from the leaders.
    async fn describe_at(
        &self,
        name: &str,
        coordinator: i32,
        addr: &str,
    ) -> Result<(GroupDescription, Vec<Silent>), Attempt> {
        let silent_coordinator = |e: crate::protocol::ProtocolError| {
            Attempt::Silent(Silent {
                addr: addr.to_string(),
                broker: Some(coordinator),
                why: e.to_string(),
            })
        };
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(name))]);
        let described = self
            .brokers
            .call_at(addr, &request, 5, wire::ATTEMPT)
            .await
            .map_err(silent_coordinator)?;
        let Some(g) = described.groups.first() else {
            return Err(Attempt::Failed(ClientError::EmptyAnswer(format!(
                "group '{name}'"
            ))));
        };
        if g.error_code != 0 {
            return Err(Attempt::Failed(refused(
                format!("group '{name}'"),
                g.error_code,
                g.error_message.as_ref(),
            )));
        }
        let members: Vec<GroupMember> = g
            .members
            .iter()
            .map(|m| GroupMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                assignment: decode_assignment(&m.member_assignment),
            })
            .collect();
        let state = g.group_state.to_string();
        let protocol = g.protocol_data.to_string();

        // Topics null asks for every committed offset; the default, an empty list, for none.
        let request =
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(name)))
                .with_topics(None)]);
        let fetched = self
            .brokers
            .call_at(addr, &request, 8, wire::ATTEMPT)
            .await
            .map_err(silent_coordinator)?;
        let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for group in &fetched.groups {
            if group.error_code != 0 {
                return Err(Attempt::Failed(refused(
                    format!("the committed offsets of group '{name}'"),
                    group.error_code,
                    None,
                )));
            }
            for t in &group.topics {
                for p in t.partitions.iter().filter(|p| p.committed_offset >= 0) {
                    committed.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
        let (ends, silent) = self.log_ends(committed.keys()).await;
        let offsets = committed
            .into_iter()
            .map(|((topic, partition), committed)| {
                let end = ends.get(&(topic.clone(), partition)).copied().unwrap_or(-1);
                GroupOffset {
                    topic,
                    partition,
                    committed,
                    end,
                    lag: if end < 0 {
                        -1
                    } else {
                        (end - committed).max(0)
                    },
                }
            })
            .collect();
        Ok((
            GroupDescription {
                name: name.to_string(),
                state,
                protocol,
                members,
                offsets,
            },
            silent,
        ))
    }

    /// High watermarks of `partitions`, asked of each partition's leader. Partitions whose
    /// leader is unknown or silent are left out; the silent leaders are returned.
    async fn log_ends<'a>(
        &self,
        partitions: impl Iterator<Item = &'a (String, i32)>,
    ) -> (BTreeMap<(String, i32), i64>, Vec<Silent>) {
        let mut ends = BTreeMap::new();
        let mut silent = Vec::new();
        let Ok(md) = self.metadata().await else {
            return (ends, silent);
        };
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = layout_of(&md.response, topic)
                .and_then(Result::ok)
                .and_then(|l| l.partitions.into_iter().find(|p| p.partition == *partition))
                .and_then(|p| p.leader)
                .map_or(-1, |l| l.0);
            if leader >= 0 {
                by_leader
                    .entry(leader)
                    .or_default()
                    .entry(topic.clone())
                    .or_default()
                    .push(*partition);
            }
        }
        for (leader, topics) in by_leader {
            let Some(addr) = self.brokers.addr_of(leader) else {
                continue;
            };
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partitions(
                                    ps.iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(*p)
                                                .with_timestamp(-1)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            match self
                .brokers
                .call_at(&addr, &request, 7, wire::ATTEMPT)
                .await
            {
                Ok(r) => {
                    for t in &r.topics {
                        for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                            ends.insert((t.name.to_string(), p.partition_index), p.offset);
                        }
                    }
                }
                Err(e) => silent.push(Silent {
                    addr,
                    broker: Some(leader),
                    why: e.to_string(),
                }),
            }
        }
        (ends, silent)
    }
}

/// How one try at the group's coordinator ended.
enum Attempt {
    /// The coordinator did not answer.
    Silent(Silent),
    /// It answered with an error, or the answer made no sense.
    Failed(ClientError),
}
