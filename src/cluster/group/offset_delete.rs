//! OffsetDelete: which of a group's committed offsets an operator may delete. Kafka's rule
//! (`ClassicGroup.validateOffsetDelete` and `isSubscribedToTopic`): any of an empty group's;
//! of a group with members, only those of topics no member subscribes to — the members read
//! their subscriptions from the consumer protocol metadata they sent with JoinGroup.

use std::collections::BTreeSet;

use bytes::Buf;
use kafka_protocol::ResponseError;

use super::classic::Group;
use super::types::GroupState;

/// The protocol type of Kafka's consumers.
const CONSUMER_PROTOCOL: &str = "consumer";

/// The topics of a consumer protocol `Subscription` (any version: every one starts with the
/// version and the topic list). `None` if it does not parse.
fn subscribed(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    if buf.remaining() < 6 {
        return None;
    }
    let _version = buf.get_i16();
    let count = buf.get_i32();
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        if buf.remaining() < 2 {
            return None;
        }
        let len = usize::try_from(buf.get_i16()).ok()?;
        if buf.remaining() < len {
            return None;
        }
        topics.push(String::from_utf8(buf.copy_to_bytes(len).to_vec()).ok()?);
    }
    Some(topics)
}

impl Group {
    /// The topics the members subscribe to; `None` when a member's subscription cannot be read
    /// (Kafka then counts every topic as subscribed).
    fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        let protocol = self.protocol.as_deref()?;
        let mut all = BTreeSet::new();
        for m in &self.members {
            all.extend(subscribed(&m.metadata(protocol))?);
        }
        Some(all)
    }

    /// Checks an OffsetDelete for `partitions`: the whole request's error, or each
    /// partition's (`None`: its offset may go).
    pub(crate) fn check_offset_delete(
        &self,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let uses_consumer_protocol = self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL);
        match self.state {
            GroupState::Dead => return Err(ResponseError::GroupIdNotFound),
            GroupState::Empty => return Ok(vec![None; partitions.len()]),
            _ if !uses_consumer_protocol => return Err(ResponseError::NonEmptyGroup),
            _ => {}
        }
        let subscribed = self.subscribed_topics();
        Ok(partitions
            .iter()
            .map(|(topic, _)| {
                let held = subscribed.as_ref().is_none_or(|s| s.contains(topic));
                held.then_some(ResponseError::GroupSubscribedToTopic)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes, BytesMut};

    use super::super::testing::join_new;
    use super::*;

    fn subscription(topics: &[&str]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(topics.len() as i32);
        for t in topics {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
        }
        b.put_i32(-1); // user data: null
        b.freeze()
    }

    #[test]
    fn reads_the_topics_of_a_consumer_subscription() {
        assert_eq!(
            subscribed(&subscription(&["a", "orders"])),
            Some(vec!["a".to_string(), "orders".to_string()])
        );
        assert_eq!(subscribed(b"\x00"), None);
    }

    #[test]
    fn only_topics_nobody_subscribes_to_lose_their_offsets_while_members_remain() {
        let now = std::time::Instant::now();
        let mut g = Group::new("g");
        assert_eq!(
            g.check_offset_delete(&[("t".into(), 0)]),
            Ok(vec![None]),
            "an empty group's offsets may all go"
        );
        let _ = join_new(&mut g, "c1", now);
        for m in &mut g.members {
            m.protocols = vec![("range".into(), subscription(&["t"]))];
        }
        assert_eq!(g.protocol.as_deref(), Some("range"));
        assert_eq!(
            g.check_offset_delete(&[("t".into(), 0), ("old".into(), 1)]),
            Ok(vec![Some(ResponseError::GroupSubscribedToTopic), None])
        );
        g.protocol_type = Some("connect".into());
        assert_eq!(
            g.check_offset_delete(&[("old".into(), 1)]),
            Err(ResponseError::NonEmptyGroup)
        );
    }
}
