//! `producer([opts])` and `send`: a real librdkafka producer that waits for each acknowledgement.

use std::rc::Rc;
use std::time::Duration;

use rhai::{Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::client::producer::{ProducerOptions, SandboxProducer};
use crate::view::timeline::Happening;

/// A producer handle in scripts, with its label on the page (`p1`, `p2`, …).
#[derive(Clone)]
pub struct Producer(Rc<SandboxProducer>, Rc<str>);

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
            other => {
                return fail(format!(
                "unknown producer option '{other}'; use acks, idempotence, timeout_ms or config"
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
    Ok(Producer(Rc::new(p), name.into()))
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
