//! Consumers: `consumer`, `group`, their methods, and `describe_group`.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::client::consumer::{
    CloseOutcome, CommitPolicy, ConsumerHandle, ConsumerSpec, End, StartFrom,
};

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
    let mut processing = Duration::ZERO;
    let mut commit = CommitPolicy::Auto;
    for (k, v) in opts {
        match k.as_str() {
            "group" => group = Some(v.to_string()),
            "from" => from = StartFrom::parse(&v.to_string()).or_else(|e| fail(e.to_string()))?,
            "name" => name = Some(v.to_string()),
            "processing_ms" => {
                let ms = v
                    .as_int()
                    .ok()
                    .filter(|ms| *ms >= 0)
                    .ok_or("processing_ms must be a number of milliseconds, 0 or more")?;
                processing = Duration::from_millis(ms as u64);
            }
            "isolation" => {
                let level = v.to_string();
                if !matches!(level.as_str(), "read_committed" | "read_uncommitted") {
                    return fail(format!(
                        "isolation must be \"read_committed\" (librdkafka's default) or \"read_uncommitted\", not \"{level}\""
                    ));
                }
                config.push(("isolation.level".to_string(), level));
            }
            "commit" => {
                commit = CommitPolicy::parse(&v.to_string()).ok_or_else(|| {
                    format!("commit must be \"auto\", \"before\" or \"after\", not \"{v}\"")
                })?;
            }
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
                    "unknown consumer option '{other}'; use group, from, name, processing_ms, commit, isolation or config"
                ))
            }
        }
    }
    if commit != CommitPolicy::Auto && group.is_none() {
        return fail("commit needs a group: a consumer without one commits nothing");
    }
    let label = name.unwrap_or_else(|| s.next_name(group.as_deref()));
    let spec = ConsumerSpec {
        bootstrap: s.cluster.bootstrap(),
        topic: topic.to_string(),
        group,
        from,
        client_id: label.replace('/', "-"),
        config,
        processing,
        commit,
    };
    let handle = Arc::new(
        ConsumerHandle::spawn(&s.exe, &label, spec, s.live.clone())
            .or_else(|e| fail(e.to_string()))?,
    );
    s.track(handle.clone());
    Ok(handle)
}

fn partition_count(s: &Session, topic: &str) -> RhaiResult<usize> {
    Ok(s.block_on(s.admin.describe(topic))?
        .or_else(|e| fail(e.to_string()))?
        .value
        .partitions
        .len())
}

/// Why a consumer is no longer running, for error messages.
fn why_ended(c: &ConsumerHandle) -> String {
    match c.end() {
        Some(End::Died(reason)) => format!("its process exited ({reason})"),
        Some(end) => format!("it was {end}"),
        None => "it is still running".into(),
    }
}

/// Waits until every consumer owns partitions and together they own all of them, once each.
/// When the group already had `others` members, the new ones cannot own everything: then it
/// waits until each new member has been through a rebalance and, while there are enough
/// partitions to go round, owns some.
fn wait_assigned(
    s: &Session,
    consumers: &[Arc<ConsumerHandle>],
    partitions: usize,
    others: usize,
) -> RhaiResult<()> {
    let deadline = Instant::now() + ASSIGN_TIMEOUT;
    loop {
        let sets: Vec<BTreeSet<i32>> = consumers.iter().map(|c| c.assignment()).collect();
        let total: usize = sets.iter().map(|a| a.len()).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let enough = consumers.len() + others <= partitions;
        let everyone_has_some = !enough || sets.iter().all(|a| !a.is_empty());
        let ready = if others == 0 {
            union.len() == partitions && total == partitions && everyone_has_some
        } else {
            consumers.iter().all(|c| c.rebalances() > 0) && everyone_has_some
        };
        if ready {
            return Ok(());
        }
        if let Some(c) = consumers.iter().find(|c| c.ended()) {
            return fail(format!(
                "consumer {} ended before it was assigned partitions: {}",
                c.name,
                why_ended(c)
            ));
        }
        if Instant::now() >= deadline {
            return fail(format!(
                "consumers were not assigned all {partitions} partitions within {} s; they were closed",
                ASSIGN_TIMEOUT.as_secs()
            ));
        }
        s.pause_for(Duration::from_millis(20))?;
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

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
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
            let outcome = loop {
                if !handle.assignment().is_empty() {
                    break Ok(());
                }
                if handle.ended() {
                    break fail(format!(
                        "consumer {} got no partitions of {topic}: {}",
                        handle.name,
                        why_ended(&handle)
                    ));
                }
                if Instant::now() >= deadline {
                    break fail(format!(
                        "consumer {} got no partitions of {topic} within {} s; it was closed",
                        handle.name,
                        ASSIGN_TIMEOUT.as_secs()
                    ));
                }
                if let Err(e) = s.pause_for(Duration::from_millis(20)) {
                    break Err(e);
                }
            };
            match outcome {
                Ok(()) => Ok(Consumer(handle)),
                Err(e) => {
                    // Nobody holds a handle to it: it must not run on unseen.
                    handle.close(Duration::from_secs(5));
                    Err(e)
                }
            }
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
            // Members already in the group (earlier consumers, or someone else's) keep some
            // partitions: say so, and do not wait for the new ones to own everything.
            // (Without __consumer_offsets no group has members yet, and asking would create it.)
            let others = if s.cluster.snapshot().topic("__consumer_offsets").is_some() {
                s.block_on(s.admin.describe_group(name))?
                    .map_or(0, |d| d.value.members.len())
            } else {
                0
            };
            if others > 0 {
                s.out.print(&format!(
                    "group {name} already has {others} member{}; the {n} new consumers join them and share the partitions",
                    if others == 1 { "" } else { "s" }
                ));
            }
            let mut opts = Map::new();
            opts.insert("group".into(), Dynamic::from(name.to_string()));
            let mut members: Vec<Arc<ConsumerHandle>> = Vec::new();
            let mut outcome = Ok(());
            for _ in 0..n {
                match spawn(&s, topic, &opts) {
                    Ok(c) => members.push(c),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            if outcome.is_ok() {
                outcome = wait_assigned(&s, &members, partitions, others);
            }
            if let Err(e) = outcome {
                // Nobody holds handles to them: they must not run on unseen.
                let closing: Vec<_> = members
                    .into_iter()
                    .map(|c| std::thread::spawn(move || c.close(Duration::from_secs(5))))
                    .collect();
                for t in closing {
                    let _ = t.join();
                }
                return Err(e);
            }
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
        let name = &c.0.name;
        s.out.print(&match c.0.close(Duration::from_secs(10)) {
            CloseOutcome::Left => format!("consumer {name} closed (left the group)"),
            CloseOutcome::Forced => format!(
                "consumer {name} did not close cleanly in time and was killed (its group waits for the session timeout)"
            ),
            CloseOutcome::AlreadyEnded(end) => {
                format!("consumer {name} had already ended ({end}); nothing to close")
            }
        });
    });
    let s = session.clone();
    engine.register_fn("kill", move |c: Consumer| {
        let name = &c.0.name;
        s.out.print(&match c.0.kill() {
            None => format!("consumer {name} killed (no goodbye to the group)"),
            Some(end) => format!("consumer {name} had already ended ({end}); nothing to kill"),
        });
    });
    engine.register_fn("ended", |c: Consumer| c.0.ended());
    engine.register_fn("state", |c: Consumer| -> String {
        match c.0.end() {
            None => "running".into(),
            Some(end) => end.to_string(),
        }
    });
    let s = session.clone();
    engine.register_fn("consumers", move || -> Array {
        let live = s.live_consumers();
        if live.is_empty() {
            s.out.print("no consumers are running");
        } else {
            let mut lines = vec![format!(
                "  {:<20} {:<20} {:<24} PARTITIONS",
                "CONSUMER", "GROUP", "TOPIC"
            )];
            for c in &live {
                let parts: Vec<String> = c.assignment().iter().map(|p| p.to_string()).collect();
                lines.push(format!(
                    "  {:<20} {:<20} {:<24} {}",
                    c.name,
                    c.spec.group.as_deref().unwrap_or("(none)"),
                    c.spec.topic,
                    if parts.is_empty() {
                        "none".into()
                    } else {
                        parts.join(",")
                    }
                ));
            }
            s.out.print(&lines.join("\n"));
        }
        s.printed.set(true);
        live.into_iter()
            .map(|c| Dynamic::from(Consumer(c)))
            .collect()
    });
    engine.register_fn("mute", |c: Consumer| c.0.set_muted(true));
    engine.register_fn("unmute", |c: Consumer| c.0.set_muted(false));
    let s = session.clone();
    engine.register_fn("describe_group", move |name: &str| -> RhaiResult<Map> {
        let seen = s
            .block_on(s.admin.describe_group(name))?
            .or_else(|e| fail(e.to_string()))?;
        let d = seen.value;
        s.out.print(&d.to_string());
        if !seen.note.is_empty() {
            s.out
                .print(&format!("  (not every broker answered: {})", seen.note));
        }
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
                let known = |v: i64| {
                    if v < 0 {
                        Dynamic::UNIT
                    } else {
                        Dynamic::from(v)
                    }
                };
                om.insert("end".into(), known(o.end));
                om.insert("lag".into(), known(o.lag));
                Dynamic::from(om)
            })
            .collect();
        m.insert("offsets".into(), Dynamic::from(offsets));
        Ok(m)
    });
}
