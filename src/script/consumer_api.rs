//! Consumers: `consumer`, `group`, their methods, and `describe_group`.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::client::consumer::{ConsumerHandle, ConsumerSpec, StartFrom};

/// A consumer handle in scripts.
#[derive(Clone)]
pub struct Consumer(Arc<ConsumerHandle>);

/// How long `consumer()`/`group()` wait for partitions to be assigned.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(20);

fn spawn(s: &Session, topic: &str, opts: &Map) -> RhaiResult<Arc<ConsumerHandle>> {
    let mut group = None;
    let mut from = StartFrom::End;
    let mut name = None;
    let mut config = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "group" => group = Some(v.to_string()),
            "from" => from = StartFrom::parse(&v.to_string()).or_else(|e| fail(e.to_string()))?,
            "name" => name = Some(v.to_string()),
            "config" => {
                let map = v
                    .clone()
                    .try_cast::<Map>()
                    .ok_or("config must be a map of librdkafka settings")?;
                config = map
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            }
            other => {
                return fail(format!(
                    "unknown consumer option '{other}'; use group, from, name or config"
                ))
            }
        }
    }
    let label = name.unwrap_or_else(|| s.next_name(group.as_deref()));
    let spec = ConsumerSpec {
        bootstrap: s.cluster.bootstrap(),
        topic: topic.to_string(),
        group,
        from,
        client_id: label.replace('/', "-"),
        config,
    };
    let handle = Arc::new(
        ConsumerHandle::spawn(&s.exe, &label, spec, s.live.clone())
            .or_else(|e| fail(e.to_string()))?,
    );
    s.track(handle.clone());
    Ok(handle)
}

fn partition_count(s: &Session, topic: &str) -> RhaiResult<usize> {
    Ok(s.admin
        .describe(topic)
        .or_else(|e| fail(e.to_string()))?
        .partitions
        .len())
}

/// Waits until every consumer owns partitions and together they own all of them, once each.
fn wait_assigned(
    s: &Session,
    consumers: &[Arc<ConsumerHandle>],
    partitions: usize,
) -> RhaiResult<()> {
    let deadline = Instant::now() + ASSIGN_TIMEOUT;
    loop {
        if s.cancelled() {
            return fail("interrupted (Ctrl-C)");
        }
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| c.assignment()).collect();
        let total: usize = sets.iter().map(|a| a.len()).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let busy = consumers.len() <= partitions;
        let ready = union.len() == partitions
            && total == partitions
            && (!busy || sets.iter().all(|a| !a.is_empty()));
        if ready {
            return Ok(());
        }
        if consumers.iter().any(|c| c.ended()) {
            return fail("a consumer process ended before it was assigned partitions");
        }
        if Instant::now() >= deadline {
            return fail(format!(
                "consumers were not assigned all {partitions} partitions within {} s",
                ASSIGN_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn to_map(r: &crate::client::consumer::Received) -> Dynamic {
    let mut m = Map::new();
    m.insert("partition".into(), Dynamic::from(i64::from(r.partition)));
    m.insert("offset".into(), Dynamic::from(r.offset));
    m.insert(
        "key".into(),
        r.key.clone().map_or(Dynamic::UNIT, Dynamic::from),
    );
    m.insert("value".into(), Dynamic::from(r.value.clone()));
    Dynamic::from(m)
}

pub fn register(engine: &mut Engine, session: &Rc<Session>) {
    engine.register_type_with_name::<Consumer>("Consumer");
    let start = {
        let s = session.clone();
        move |topic: &str, opts: Map| -> RhaiResult<Consumer> {
            // Fails early, with the list of topics, if the topic does not exist.
            partition_count(&s, topic)?;
            let handle = spawn(&s, topic, &opts)?;
            // A lone group member, or a group-less reader, owns every partition; a member
            // joining an existing group owns some.
            let deadline = Instant::now() + ASSIGN_TIMEOUT;
            while handle.assignment().is_empty() {
                if s.cancelled() {
                    return fail("interrupted (Ctrl-C)");
                }
                if handle.ended() || Instant::now() >= deadline {
                    return fail(format!(
                        "consumer {} got no partitions of {topic}",
                        handle.name
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(Consumer(handle))
        }
    };
    let start2 = start.clone();
    engine.register_fn("consumer", move |topic: &str| start2(topic, Map::new()));
    engine.register_fn("consumer", start);
    let s = session.clone();
    engine.register_fn(
        "group",
        move |name: &str, topic: &str, n: i64| -> RhaiResult<Array> {
            if !(1..=64).contains(&n) {
                return fail("group(name, topic, n): n must be between 1 and 64");
            }
            let partitions = partition_count(&s, topic)?;
            let mut opts = Map::new();
            opts.insert("group".into(), Dynamic::from(name.to_string()));
            let members: Vec<Arc<ConsumerHandle>> = (0..n)
                .map(|_| spawn(&s, topic, &opts))
                .collect::<RhaiResult<_>>()?;
            wait_assigned(&s, &members, partitions)?;
            Ok(members
                .into_iter()
                .map(|c| Dynamic::from(Consumer(c)))
                .collect())
        },
    );
    engine.register_fn("received", |c: Consumer| -> Array {
        c.0.received().iter().map(to_map).collect()
    });
    engine.register_fn("values", |c: Consumer| -> Array {
        c.0.received()
            .into_iter()
            .map(|r| Dynamic::from(r.value))
            .collect()
    });
    engine.register_fn("assignment", |c: Consumer| -> Array {
        c.0.assignment()
            .into_iter()
            .map(|p| Dynamic::from(i64::from(p)))
            .collect()
    });
    engine.register_fn("name", |c: Consumer| -> String { c.0.name.clone() });
    let s = session.clone();
    engine.register_fn("close", move |c: Consumer| {
        c.0.close(Duration::from_secs(10));
        s.out
            .print(&format!("consumer {} closed (left the group)", c.0.name));
    });
    let s = session.clone();
    engine.register_fn("kill", move |c: Consumer| {
        c.0.kill();
        s.out.print(&format!(
            "consumer {} killed (no goodbye to the group)",
            c.0.name
        ));
    });
    engine.register_fn("mute", |c: Consumer| c.0.set_muted(true));
    engine.register_fn("unmute", |c: Consumer| c.0.set_muted(false));
    let s = session.clone();
    engine.register_fn("describe_group", move |name: &str| -> RhaiResult<Map> {
        let d = s
            .admin
            .describe_group(name)
            .or_else(|e| fail(e.to_string()))?;
        s.out.print(&d.to_string());
        s.printed.set(true);
        let mut m = Map::new();
        m.insert("state".into(), Dynamic::from(d.state.clone()));
        m.insert("assignor".into(), Dynamic::from(d.protocol.clone()));
        let members: Array = d
            .members
            .iter()
            .map(|mem| {
                let mut mm = Map::new();
                mm.insert("client_id".into(), Dynamic::from(mem.client_id.clone()));
                mm.insert("host".into(), Dynamic::from(mem.client_host.clone()));
                let parts: Array = mem
                    .assignment
                    .iter()
                    .map(|(_, p)| Dynamic::from(i64::from(*p)))
                    .collect();
                mm.insert("partitions".into(), Dynamic::from(parts));
                Dynamic::from(mm)
            })
            .collect();
        m.insert("members".into(), Dynamic::from(members));
        let offsets: Array = d
            .offsets
            .iter()
            .map(|o| {
                let mut om = Map::new();
                om.insert("topic".into(), Dynamic::from(o.topic.clone()));
                om.insert("partition".into(), Dynamic::from(i64::from(o.partition)));
                om.insert("committed".into(), Dynamic::from(o.committed));
                om.insert("lag".into(), Dynamic::from(o.lag));
                Dynamic::from(om)
            })
            .collect();
        m.insert("offsets".into(), Dynamic::from(offsets));
        Ok(m)
    });
}
