//! The REPL under a learner's hands, through a real pseudo-terminal: Ctrl-C during a
//! statement, a consumer that dies, type-ahead, dimmed hints, continuation lines, error
//! carets — and nothing left running afterwards.

use std::time::Duration;

use crate::pty::{drive, reported};
use crate::util::*;

const CTRL_C_AND_DEATH: &str = r#"
expect("kafka> ")
t = "ctrlc-" + tag
g = "g-" + tag
command('create_topic("%s", 4, 3)' % t, "created topic")
line('let g = group("%s", "%s", 2)' % (g, t))
expect("assigned", 40)
expect("kafka> ", 40)
line("let p = producer()")
expect("kafka> ")
ok("BEFORE", len(consumers_of(t)))
line("sleep(5000)")
time.sleep(0.7)
ctrl_c()
expect("interrupted (Ctrl-C)", 5)
expect("kafka> ")
# Give a killed consumer time to be noticed, then count.
time.sleep(1.0)
ok("AFTER", len(consumers_of(t)))
line('p.send("%s", "k1", "after ctrl-c")' % t)
expect("after ctrl-c  (p", 20)
command('print(`owned ${g[0].assignment().len() + g[1].assignment().len()}`)', "owned 4")
# A consumer that dies on its own is reported once, as it happens, and its handle knows.
victim = consumers_of('"client_id":"%s-c1"' % g)
os.kill(victim[0], signal.SIGKILL)
died = expect("consumer process exited: killed by signal 9 (SIGKILL)", 10)
ok("WHO", died.splitlines()[-1].count("%s/c1" % g))
command('print(`ended ${g[0].ended()}`)', "ended true")
command("g[0].close()", "had already ended")
ok("REPORTED", log.decode(errors="replace").count("consumer process exited"))
# A statement that fails closes the consumer it started and never handed over.
line('consumer("%s", #{group: "orphan-%s"}).assignment(); assert(false, "boom")' % (t, tag))
expect("assertion failed: boom", 40)
expect("kafka> ")
time.sleep(1.0)
ok("ORPHANS", len(consumers_of("orphan-" + tag)))
command("consumers()", "CONSUMER")
send("\x04")
expect("bye", 30)
ok("EXIT", finish())
ok("LEFT", len(consumers_of(t)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_interrupts_only_the_statement_and_a_dead_consumer_is_reported_once() {
    bounded(async {
        let out = drive(
            &["--port", "0"],
            &unique("ctrlc"),
            CTRL_C_AND_DEATH,
            Duration::from_secs(85),
        )
        .await;
        reported(&out, "BEFORE", "2");
        reported(&out, "AFTER", "2");
        reported(&out, "REPORTED", "1");
        reported(&out, "WHO", "1");
        reported(&out, "ORPHANS", "0");
        reported(&out, "EXIT", "0");
        reported(&out, "LEFT", "0");
    })
    .await;
}

const TYPE_AHEAD_AND_EDITING: &str = r#"
expect("kafka> ")
# Three lines typed while a statement blocks all run, in order.
line("sleep(1500)")
time.sleep(0.3)
line("let a = 40")
line("let b = a + 2")
line("print(`sum ${b}`)")
expect("sum 42", 20)
expect("kafka> ")
# An unfinished statement continues on a ...> line; the parser, not a bracket count, decides.
line("let x = [1,")
expect("...> ")
line("2]")
expect("kafka> ")
command('print(`len ${x.len()}`)', "len 2")
line("let s = `a")
expect("...> ")
line("b`")
expect("kafka> ")
command('print(`chars ${s.len()}`)', "chars 3")
line("let c = '{';")
after = expect("kafka> ")
ok("CHAR_CONTINUES", "...>" in after)
# Ctrl-C at a continuation line drops the unfinished statement.
line("fn f() {")
expect("...> ")
ctrl_c()
expect("kafka> ")
# Errors show the line and a caret under the spot; closures keep their internal name hidden.
err = command("describe(topc)", "^")
rows = [l.rstrip("\r") for l in err.split("\n")]
ok("CARET", any(l == " " * 11 + "^" for l in rows) and any("'topc' is not defined" in l for l in rows))
err = statement("let f = |x| x.nope(); f.call(1)")
ok("ANON", "anon$" in err)
command("|| 1", "<closure>")
# A history hint is dimmed, so it never reads as typed text.
command("cluster.status()", "Brokers:")
send("cluster.sta")
hinted = quiet_for(0.8)
ok("DIM", "\x1b[2mtus()" in hinted)
send("\x15")
line("exit")
expect("bye", 30)
ok("EXIT", finish())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_ahead_runs_in_order_and_the_editor_helps_without_misleading() {
    bounded(async {
        let out = drive(
            &["--port", "0"],
            &unique("editing"),
            TYPE_AHEAD_AND_EDITING,
            Duration::from_secs(60),
        )
        .await;
        reported(&out, "CHAR_CONTINUES", "False");
        reported(&out, "CARET", "True");
        reported(&out, "ANON", "False");
        reported(&out, "DIM", "True");
        reported(&out, "EXIT", "0");
    })
    .await;
}
