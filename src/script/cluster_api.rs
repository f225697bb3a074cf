//! `cluster.…`: broker control and status, through the backend's control interface.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine};

use super::{fail, RhaiResult, Session};

/// The `cluster` global.
#[derive(Debug, Clone, Copy)]
pub struct Cluster;

fn id(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub fn register(engine: &mut Engine, session: &Rc<Session>) {
    engine.register_type_with_name::<Cluster>("Cluster");
    let s = session.clone();
    engine.register_fn("brokers", move |_: Cluster| -> Array {
        s.cluster
            .brokers()
            .into_iter()
            .map(|b| Dynamic::from(i64::from(b)))
            .collect()
    });
    let s = session.clone();
    engine.register_fn("bootstrap", move |_: Cluster| -> String {
        s.cluster.bootstrap()
    });
    let s = session.clone();
    engine.register_fn("status", move |_: Cluster| {
        s.out.print(&s.cluster.snapshot().to_string());
        s.printed.set(true);
    });
    macro_rules! async_control {
        ($name:literal, $method:ident, $done:literal) => {{
            let s = session.clone();
            engine.register_fn($name, move |_: Cluster, broker: i64| -> RhaiResult<()> {
                match s.block_on(s.cluster.$method(id(broker)))? {
                    Ok(()) => {
                        s.out.print(&format!($done, broker));
                        Ok(())
                    }
                    Err(e) => fail(e.to_string()),
                }
            });
        }};
    }
    async_control!("stop", stop, "broker {} stopped (controlled shutdown)");
    async_control!("kill", kill, "broker {} killed");
    async_control!("start", start, "broker {} started");
    async_control!("restart", restart, "broker {} restarted");
    async_control!("pause", pause, "broker {} paused");
    async_control!("resume", resume, "broker {} resumed");
    async_control!("isolate", isolate, "broker {} isolated from its peers");
    let s = session.clone();
    engine.register_fn("heal", move |_: Cluster| -> RhaiResult<()> {
        s.block_on(s.cluster.heal(None))?
            .or_else(|e| fail(e.to_string()))
    });
    let s = session.clone();
    engine.register_fn("heal", move |_: Cluster, broker: i64| -> RhaiResult<()> {
        s.block_on(s.cluster.heal(Some(id(broker))))?
            .or_else(|e| fail(e.to_string()))
    });
    let s = session.clone();
    engine.register_fn("logs", move |_: Cluster, broker: i64| -> RhaiResult<()> {
        match s.block_on(s.cluster.logs(id(broker)))? {
            Ok(text) => {
                s.out.print(&text);
                s.printed.set(true);
                Ok(())
            }
            Err(e) => fail(e.to_string()),
        }
    });
}
