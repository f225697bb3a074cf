//! `ledger(topic)`: the delivery ledger of everything this session sent to a topic, checked
//! against what the topic holds now; and `now_ms()` for timing experiments.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::client::ledger::{read_back, reconcile, Readings};

fn strings(list: &[String]) -> Array {
    list.iter().map(|s| Dynamic::from(s.clone())).collect()
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("ledger", move |topic: &str| -> RhaiResult<Map> {
        let bootstrap = s.cluster.bootstrap();
        let sent = s.sends.borrow().get(topic).cloned().unwrap_or_default();
        let committed =
            read_back(&bootstrap, topic, "read_committed").or_else(|e| fail(e.to_string()))?;
        let uncommitted = if sent.iter().any(|s| s.txn.is_some()) {
            Some(
                read_back(&bootstrap, topic, "read_uncommitted")
                    .or_else(|e| fail(e.to_string()))?,
            )
        } else {
            None
        };
        let l = reconcile(
            topic,
            &sent,
            &Readings {
                committed,
                uncommitted,
            },
        );
        s.view.ledger_computed(&l);
        s.out.print(&l.to_string());
        s.printed.set(true);
        let mut m = Map::new();
        for (k, v) in [
            ("sent", l.sent),
            ("acknowledged", l.acknowledged),
            ("refused", l.refused),
            ("in_log", l.in_log),
            ("lost", l.lost.len()),
            ("duplicated", l.duplicated.len()),
            ("out_of_order", l.out_of_order.len()),
        ] {
            m.insert(k.into(), Dynamic::from(v as i64));
        }
        // What this session's own consumers saw: per group (or lone consumer), how many
        // distinct values arrived and how many arrived more than once (re-deliveries).
        let mut per_reader: std::collections::HashMap<(String, String), usize> = Default::default();
        for key in s.consumed(topic) {
            *per_reader.entry(key).or_default() += 1;
        }
        let received = per_reader.keys().map(|(_, v)| v.as_str()).collect::<std::collections::HashSet<_>>().len();
        let redelivered = per_reader.values().filter(|n| **n > 1).count();
        if !per_reader.is_empty() {
            s.out.print(&format!("  consumers of {topic} in this session received {received} distinct values; {redelivered} arrived more than once at the same group"));
        }
        m.insert("received".into(), Dynamic::from(received as i64));
        m.insert("redelivered".into(), Dynamic::from(redelivered as i64));
        if let Some(t) = &l.transactions {
            for (k, v) in [
                ("committed", t.committed),
                ("aborted", t.aborted),
                ("open", t.open),
                ("aborted_visible", t.aborted_visible.len()),
                ("in_log_uncommitted", t.uncommitted_in_log),
            ] {
                m.insert(k.into(), Dynamic::from(v as i64));
            }
        }
        m.insert("lost_values".into(), Dynamic::from(strings(&l.lost)));
        m.insert("errors".into(), Dynamic::from(strings(&l.errors)));
        Ok(m)
    });
    engine.register_fn("now_ms", || -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    });
}
