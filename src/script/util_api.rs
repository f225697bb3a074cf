//! Helpers: sleep, wait_until, assert, quiet, help.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Engine, FnPtr, NativeCallContext};

use super::registry;
use super::{fail, RhaiResult, Session};

pub fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("sleep", move |ms: i64| -> RhaiResult<()> {
        let deadline = Instant::now() + Duration::from_millis(ms.max(0) as u64);
        while Instant::now() < deadline {
            if s.cancelled() {
                return fail("interrupted (Ctrl-C)");
            }
            std::thread::sleep(
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        Ok(())
    });
    let s = session.clone();
    engine.register_fn(
        "wait_until",
        move |ctx: NativeCallContext, f: FnPtr, timeout_ms: i64| -> RhaiResult<bool> {
            let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
            loop {
                // An error while waiting (say, metadata while brokers are down) counts as "not yet".
                match f.call_within_context::<bool>(&ctx, ()) {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(e) if Instant::now() >= deadline => return Err(e),
                    Err(_) => {}
                }
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                if s.cancelled() {
                    return fail("interrupted (Ctrl-C)");
                }
                std::thread::sleep(Duration::from_millis(25));
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
