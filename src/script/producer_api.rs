//! `producer([opts])` and `send`: a real librdkafka producer that waits for each acknowledgement;
//! with `transactional_id`, `begin`, `commit`, `abort` and `send_offsets` run its transactions.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rhai::{Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::client::ledger::TxnState;
use crate::client::producer::{ProducerOptions, SandboxProducer};
use crate::view::timeline::Happening;

/// A producer handle in scripts, with its label on the page (`p1`, `p2`, …), the number of
/// the transaction it has open, if any, and its transactional id.
#[derive(Clone)]
pub struct Producer(
    Rc<SandboxProducer>,
    Rc<str>,
    Rc<Cell<Option<u64>>>,
    Option<Rc<str>>,
);

/// Numbers transactions across the session, so the ledger can tell them apart.
static TRANSACTIONS: AtomicU64 = AtomicU64::new(1);

fn options(opts: &Map) -> RhaiResult<ProducerOptions> {
    let mut o = ProducerOptions::default();
    for (k, v) in opts {
        match k.as_str() {
            "acks" => o.acks = v.to_string(),
            "idempotence" => {
                o.idempotence = v
                    .as_bool()
                    .or_else(|_| fail("idempotence must be true or false"))?
            }
            "timeout_ms" => {
                let ms = v
                    .as_int()
                    .or_else(|_| fail("timeout_ms must be a number of milliseconds"))?;
                o.timeout = Duration::from_millis(ms.max(1) as u64);
            }
            "config" => {
                let map = v
                    .clone()
                    .try_cast::<Map>()
                    .ok_or("config must be a map of librdkafka settings")?;
                o.config = map
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            }
            "transactional_id" => {
                let id = v.to_string();
                if id.is_empty() {
                    return fail("transactional_id must be a name, e.g. \"tx-1\"");
                }
                o.transactional_id = Some(id);
            }
            other => {
                return fail(format!(
                "unknown producer option '{other}'; use acks, idempotence, timeout_ms, transactional_id or config"
            ))
            }
        }
    }
    Ok(o)
}

fn send(s: &Session, p: &Producer, topic: &str, key: Option<&str>, value: &str) -> RhaiResult<Map> {
    let outcome = s.block_on(p.0.send(topic, key, value))?;
    let error = outcome.as_ref().err().map(ToString::to_string);
    s.view
        .clients
        .sent(&p.1, value, error.as_deref().map_or(Ok(()), Err));
    if let Some(error) = error {
        s.view.timeline.record(Happening::ProduceFailed {
            producer: p.1.to_string(),
            topic: topic.to_string(),
            error,
        });
    }
    s.record_send(
        topic,
        crate::client::ledger::Sent {
            value: value.to_string(),
            result: outcome.as_ref().map(|a| *a).map_err(|e| e.to_string()),
            txn: p.2.get().map(TxnState::Open),
        },
    );
    match outcome {
        Ok((partition, offset)) => {
            let mut m = Map::new();
            m.insert("partition".into(), Dynamic::from(i64::from(partition)));
            m.insert("offset".into(), Dynamic::from(offset));
            Ok(m)
        }
        Err(e) => fail(format!("send to {topic} failed: {e}")),
    }
}

fn create(s: &Session, options: &ProducerOptions) -> RhaiResult<Producer> {
    let p =
        SandboxProducer::new(&s.cluster.bootstrap(), options).or_else(|e| fail(e.to_string()))?;
    let name = s.view.clients.producer_created(&options.acks);
    if let Some(id) = &options.transactional_id {
        s.transactional_id_registered(id);
    }
    Ok(Producer(
        Rc::new(p),
        name.into(),
        Rc::new(Cell::new(None)),
        options.transactional_id.as_deref().map(Rc::from),
    ))
}

/// `begin()`: starts a transaction; sends until `commit()` or `abort()` belong to it.
fn begin(s: &Session, p: &Producer) -> RhaiResult<()> {
    if p.2.get().is_some() {
        return fail(format!(
            "{} already has a transaction open; commit() or abort() it first",
            p.1
        ));
    }
    p.0.begin().or_else(|e| fail(e.to_string()))?;
    let txn = TRANSACTIONS.fetch_add(1, Ordering::Relaxed);
    p.2.set(Some(txn));
    if let Some(id) = &p.3 {
        s.transaction_began(id, txn);
    }
    Ok(())
}

/// `commit()` / `abort()`: ends the open transaction; the ledger then counts its sends as
/// committed or aborted.
fn end(s: &Session, p: &Producer, commit: bool) -> RhaiResult<()> {
    let Some(txn) = p.2.get() else {
        return fail(format!(
            "{} has no transaction open; begin() one first",
            p.1
        ));
    };
    let outcome = if commit { p.0.commit() } else { p.0.abort() };
    match outcome {
        Ok(()) => {
            p.2.set(None);
            s.end_transaction(
                txn,
                if commit {
                    TxnState::Committed
                } else {
                    TxnState::Aborted
                },
            );
            Ok(())
        }
        Err(e) => fail(format!(
            "{} could not {} its transaction: {e}",
            p.1,
            if commit { "commit" } else { "abort" }
        )),
    }
}

/// `send_offsets(group, offsets)`: `offsets` is an array of `#{topic, partition, offset}`,
/// each the next offset the group should read.
fn send_offsets(p: &Producer, group: &str, offsets: rhai::Array) -> RhaiResult<()> {
    if p.2.get().is_none() {
        return fail(format!(
            "{} has no transaction open; begin() one first",
            p.1
        ));
    }
    let mut list = Vec::new();
    for entry in offsets {
        let map = entry
            .try_cast::<Map>()
            .ok_or("each offset is a map like #{topic: \"in\", partition: 0, offset: 5}")?;
        let field = |k: &str| {
            map.get(k).cloned().ok_or_else(|| {
                format!("an offset needs {k}: #{{topic: \"in\", partition: 0, offset: 5}}")
            })
        };
        let topic = field("topic")?.to_string();
        let partition = field("partition")?
            .as_int()
            .or_else(|_| fail("partition must be a number"))?;
        let offset = field("offset")?
            .as_int()
            .or_else(|_| fail("offset must be a number"))?;
        list.push((topic, partition as i32, offset));
    }
    p.0.send_offsets(group, &list)
        .or_else(|e| fail(e.to_string()))
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    engine.register_type_with_name::<Producer>("Producer");
    let s = session.clone();
    engine.register_fn("producer", move || -> RhaiResult<Producer> {
        create(&s, &ProducerOptions::default())
    });
    let s = session.clone();
    engine.register_fn("producer", move |opts: Map| -> RhaiResult<Producer> {
        create(&s, &options(&opts)?)
    });
    let s = session.clone();
    engine.register_fn("send", move |p: Producer, topic: &str, value: Dynamic| {
        send(&s, &p, topic, None, &value.to_string())
    });
    let s = session.clone();
    engine.register_fn(
        "send",
        move |p: Producer, topic: &str, key: Dynamic, value: Dynamic| {
            send(&s, &p, topic, Some(&key.to_string()), &value.to_string())
        },
    );
    let s = session.clone();
    engine.register_fn("begin", move |p: Producer| begin(&s, &p));
    let s = session.clone();
    engine.register_fn("commit", move |p: Producer| end(&s, &p, true));
    let s = session.clone();
    engine.register_fn("abort", move |p: Producer| end(&s, &p, false));
    engine.register_fn(
        "send_offsets",
        |p: Producer, group: &str, offsets: rhai::Array| send_offsets(&p, group, offsets),
    );
    let s = session.clone();
    engine.register_fn("describe_transaction", move |id: &str| -> RhaiResult<Map> {
        let d = s
            .block_on(s.admin.describe_transaction(id))?
            .or_else(|e| fail(e.to_string()))?;
        s.out.print(&format!(
            "transactional id {id}: {} (coordinator broker {}, producer id {} epoch {}, timeout {} ms){}",
            d.state,
            d.coordinator,
            d.producer_id,
            d.producer_epoch,
            d.timeout_ms,
            if d.partitions.is_empty() {
                String::new()
            } else {
                format!(", partitions {}", d.partitions.join(", "))
            }
        ));
        s.printed.set(true);
        let mut m = Map::new();
        m.insert("state".into(), Dynamic::from(d.state));
        m.insert("coordinator".into(), Dynamic::from(i64::from(d.coordinator)));
        m.insert("producer_id".into(), Dynamic::from(d.producer_id));
        m.insert("epoch".into(), Dynamic::from(i64::from(d.producer_epoch)));
        m.insert("timeout_ms".into(), Dynamic::from(i64::from(d.timeout_ms)));
        let partitions: rhai::Array = d.partitions.into_iter().map(Dynamic::from).collect();
        m.insert("partitions".into(), Dynamic::from(partitions));
        Ok(m)
    });
    // `try_send` records a refusal in the ledger and returns it instead of raising it.
    let s = session.clone();
    engine.register_fn(
        "try_send",
        move |p: Producer, topic: &str, value: Dynamic| -> RhaiResult<Map> {
            Ok(refusal_as_map(send(
                &s,
                &p,
                topic,
                None,
                &value.to_string(),
            )))
        },
    );
    let s = session.clone();
    engine.register_fn(
        "try_send",
        move |p: Producer, topic: &str, key: Dynamic, value: Dynamic| -> RhaiResult<Map> {
            let key = key.to_string();
            Ok(refusal_as_map(send(
                &s,
                &p,
                topic,
                Some(&key),
                &value.to_string(),
            )))
        },
    );
}

/// A send's outcome as a map: the acknowledgement, or `#{error}` with the refusal.
fn refusal_as_map(outcome: RhaiResult<Map>) -> Map {
    outcome.unwrap_or_else(|e| {
        let mut m = Map::new();
        m.insert("error".into(), Dynamic::from(super::error_message(&e)));
        m
    })
}
