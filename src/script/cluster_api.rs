//! `cluster.…`: broker control and status, through the backend's control interface.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, RhaiResult, Session};
use crate::control::Control;

/// The `cluster` global.
#[derive(Debug, Clone, Copy)]
pub struct Cluster;

/// Runs a control command and prints its outcome.
fn run(s: &Session, command: Control) -> RhaiResult<()> {
    let done = s
        .block_on(command.execute(s.cluster.as_ref(), &s.admin))?
        .or_else(|e| fail(e.to_string()))?;
    s.out.print(&done);
    s.printed.set(true);
    Ok(())
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
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
    engine.register_fn("backend", move |_: Cluster| -> String {
        s.cluster.kind().to_string()
    });
    let s = session.clone();
    engine.register_fn("bootstrap", move |_: Cluster| -> String {
        s.cluster.bootstrap()
    });
    macro_rules! control {
        ($name:literal, $variant:ident) => {{
            let s = session.clone();
            engine.register_fn($name, move |_: Cluster, id: i64| {
                run(&s, Control::$variant { id })
            });
        }};
    }
    control!("stop", Stop);
    control!("kill", Kill);
    control!("start", Start);
    control!("restart", Restart);
    control!("pause", Pause);
    control!("resume", Resume);
    control!("isolate", Isolate);
    control!("logs", Logs);
    let s = session.clone();
    engine.register_fn("heal", move |_: Cluster| {
        run(&s, Control::Heal { id: None })
    });
    let s = session.clone();
    engine.register_fn("heal", move |_: Cluster, id: i64| {
        run(&s, Control::Heal { id: Some(id) })
    });
    let s = session.clone();
    engine.register_fn("elect", move |_: Cluster| run(&s, Control::Elect));
    let s = session.clone();
    engine.register_fn("pause_controller", move |_: Cluster| {
        run(&s, Control::PauseController)
    });
    let s = session.clone();
    engine.register_fn("resume_controller", move |_: Cluster| {
        run(&s, Control::ResumeController)
    });
    let s = session.clone();
    engine.register_fn("status", move |_: Cluster| run(&s, Control::Status));
    let s = session.clone();
    engine.register_fn("racks", move |_: Cluster| -> RhaiResult<Map> {
        let racks = s
            .block_on(s.admin.racks())?
            .or_else(|e| fail(e.to_string()))?;
        Ok(racks
            .into_iter()
            .map(|(id, rack)| {
                let rack = rack.map_or(Dynamic::UNIT, Dynamic::from);
                (id.to_string().into(), rack)
            })
            .collect())
    });
}
