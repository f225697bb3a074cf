//! Topics: create, delete, list, and describe like `kafka-topics --describe`.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::backend::snapshot::TopicView;
use crate::cluster::BrokerId;
use crate::control;

fn ids(list: &[BrokerId]) -> Array {
    list.iter().map(|i| Dynamic::from(i64::from(i.0))).collect()
}

/// CreateTopics with the sandbox's checks (see [`control::create_topic`]); prints the outcome.
pub(crate) fn create(
    s: &Session,
    name: &str,
    partitions: i64,
    replication: i64,
    configs: Map,
) -> RhaiResult<()> {
    let configs: Vec<(String, String)> = configs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let done = s
        .block_on(control::create_topic(
            s.cluster.as_ref(),
            &s.admin,
            name,
            partitions,
            replication,
            &configs,
        ))?
        .or_else(|e| fail(e.to_string()))?;
    s.out.print(&done);
    Ok(())
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("create_topic", move |name: &str, p: i64, rf: i64| {
        create(&s, name, p, rf, Map::new())
    });
    let s = session.clone();
    engine.register_fn(
        "create_topic",
        move |name: &str, p: i64, rf: i64, configs: Map| create(&s, name, p, rf, configs),
    );
    let s = session.clone();
    engine.register_fn("delete_topic", move |name: &str| -> RhaiResult<()> {
        s.block_on(s.admin.delete_topic(name))?
            .or_else(|e| fail(e.to_string()))?;
        s.out.print(&format!("deleted topic {name}"));
        Ok(())
    });
    let s = session.clone();
    engine.register_fn(
        "add_partitions",
        move |name: &str, total: i64| -> RhaiResult<()> {
            let total = i32::try_from(total)
                .ok()
                .filter(|t| *t > 0)
                .ok_or("add_partitions(topic, total): total is the topic's new partition count")?;
            s.block_on(s.admin.create_partitions(name, total))?
                .or_else(|e| fail(e.to_string()))?;
            s.out
                .print(&format!("topic {name} now has {total} partitions"));
            Ok(())
        },
    );
    let s = session.clone();
    engine.register_fn("replica_offsets", move |topic: &str| -> RhaiResult<Array> {
        replica_offsets(&s, topic)
    });
    let s = session.clone();
    engine.register_fn("topics", move || -> RhaiResult<Array> {
        let names = s
            .block_on(s.admin.topics())?
            .or_else(|e| fail(e.to_string()))?;
        Ok(names.value.into_iter().map(Dynamic::from).collect())
    });
    let s = session.clone();
    engine.register_fn("describe", move |topic: &str| -> RhaiResult<Array> {
        let seen = s
            .block_on(s.admin.describe(topic))?
            .or_else(|e| fail(e.to_string()))?;
        s.out.print(&seen.value.describe_table());
        if !seen.note.is_empty() {
            s.out
                .print(&format!("  (asked another broker: {})", seen.note));
        }
        s.printed.set(true);
        Ok(as_maps(&seen.value))
    });
    let s = session.clone();
    engine.register_fn("partitions", move |topic: &str| -> RhaiResult<Array> {
        let seen = s
            .block_on(s.admin.describe(topic))?
            .or_else(|e| fail(e.to_string()))?;
        Ok(as_maps(&seen.value))
    });
}

/// A topic's partitions as script maps; a partition with no leader has `leader: ()`.
fn as_maps(topic: &TopicView) -> Array {
    topic
        .partitions
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("partition".into(), Dynamic::from(i64::from(p.partition)));
            m.insert(
                "leader".into(),
                p.leader
                    .map_or(Dynamic::UNIT, |l| Dynamic::from(i64::from(l.0))),
            );
            m.insert("replicas".into(), Dynamic::from(ids(&p.replicas)));
            m.insert("isr".into(), Dynamic::from(ids(&p.isr)));
            m.insert("offline".into(), Dynamic::from(ids(&p.offline)));
            m.insert(
                "epoch".into(),
                p.leader_epoch
                    .map_or(Dynamic::UNIT, |e| Dynamic::from(i64::from(e))),
            );
            Dynamic::from(m)
        })
        .collect()
}

/// Each replica's log end offset and high watermark, from the cluster's own view (a client's
/// Metadata does not carry them).
fn replica_offsets(s: &Session, topic: &str) -> RhaiResult<Array> {
    let snapshot = s.cluster.snapshot();
    let Some(view) = snapshot.topic(topic) else {
        return fail(format!(
            "replica_offsets: no topic '{topic}' (topics() lists them)"
        ));
    };
    if view.partitions.iter().all(|p| p.offsets.is_empty()) {
        return fail(format!(
            "replica_offsets: the {} backend cannot see each replica's log end offset",
            s.cluster.kind()
        ));
    }
    let mut out = Array::new();
    for p in &view.partitions {
        for o in &p.offsets {
            let mut m = Map::new();
            m.insert("partition".into(), Dynamic::from(i64::from(p.partition)));
            m.insert("broker".into(), Dynamic::from(i64::from(o.broker.0)));
            m.insert("leader".into(), Dynamic::from(p.leader == Some(o.broker)));
            m.insert("log_end_offset".into(), Dynamic::from(o.log_end_offset));
            m.insert("high_watermark".into(), Dynamic::from(o.high_watermark));
            out.push(Dynamic::from(m));
        }
    }
    Ok(out)
}
