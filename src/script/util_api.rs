//! Helpers: sleep, wait_until, assert, quiet, help.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Engine, FnPtr, NativeCallContext};

use super::registry;
use super::{fail, RhaiResult, Session};

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("sleep", move |ms: i64| -> RhaiResult<()> {
        s.pause_for(Duration::from_millis(ms.max(0) as u64))
    });
    let s = session.clone();
    engine.register_fn(
        "wait_until",
        move |ctx: NativeCallContext, f: FnPtr, timeout_ms: i64| -> RhaiResult<bool> {
            let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
            s.take_deadline_hit();
            loop {
                // Every wait inside the condition ends by the deadline, so the whole call
                // overruns its time by one poll at most.
                let outcome = s.within(deadline, || f.call_within_context::<bool>(&ctx, ()));
                let timed_out = s.take_deadline_hit();
                match outcome {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(e) if s.cancelled() => return Err(e),
                    // An error while waiting (say, metadata while brokers are down) counts as
                    // "not yet"; the last one is raised if time runs out on it.
                    Err(_) if timed_out => return Ok(false),
                    Err(e) if Instant::now() >= deadline => return Err(e),
                    Err(_) => {}
                }
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                s.within(deadline, || s.pause_for(Duration::from_millis(25)))
                    .or_else(|e| if s.cancelled() { Err(e) } else { Ok(()) })?;
            }
        },
    );
    engine.register_fn(
        "assert",
        |condition: bool, message: &str| -> RhaiResult<()> {
            if condition {
                Ok(())
            } else {
                fail(format!("assertion failed: {message}"))
            }
        },
    );
    let s = session.clone();
    engine.register_fn("quiet", move |on: bool| s.out.set_quiet(on));
    let s = session.clone();
    engine.register_fn("help", move || {
        s.out.print(&registry::overview());
        s.printed.set(true);
    });
    let s = session.clone();
    engine.register_fn("help", move |name: &str| -> RhaiResult<()> {
        match registry::find(name.trim_end_matches("()")) {
            Some(f) => {
                s.out.print(&registry::detail(f));
                s.printed.set(true);
                Ok(())
            }
            None => fail(format!("no function named '{name}'; help() lists them all")),
        }
    });
}
