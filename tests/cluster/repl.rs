//! The real REPL in a pseudo-terminal, driven like a person would: prompt, Tab completion, a
//! bad line, `help`, describe, a consumer, and Ctrl-D — after which nothing is left running.

use std::time::Duration;

use crate::util::*;

/// Drives the REPL through a pty with Python's standard `pty` module.
const DRIVER: &str = r#"
import os, pty, sys, time, select
exe, home, topic = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["HOME"] = home
os.environ["NO_COLOR"] = "1"
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "--port", "0"])
seen = b""
def expect(pattern, timeout=30):
    global seen
    end = time.time() + timeout
    while pattern.encode() not in seen:
        if time.time() > end:
            sys.stdout.write("TIMEOUT waiting for %r\n---\n%s\n" % (pattern, seen.decode(errors="replace")))
            sys.exit(3)
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    i = seen.index(pattern.encode()) + len(pattern)
    before, seen = seen[:i], seen[i:]
    return before.decode(errors="replace")
def send(text):
    os.write(fd, text.encode())
banner = expect("kafka> ")
print("BANNER", [l for l in banner.splitlines() if "bootstrap servers" in l][0].split()[2])
# Tab must complete create_top -> create_topic, or the call below fails.
send("create_top")
time.sleep(0.3)
send("\t")
time.sleep(0.3)
send('("%s", 3, 3)\r' % topic)
expect("created topic %s" % topic)
expect("kafka> ")
def command(text, marker, timeout=30):
    """Types a command, waits for a marker of its output, then for the next prompt."""
    send(text + "\r")
    found = expect(marker, timeout)
    expect("kafka> ", timeout)
    time.sleep(0.2)
    return found
print("ERROR", command("this is not a command", "error:").count("error:"))
send("sleep(60000)\r")
time.sleep(0.5)
send("\x03")
expect("interrupted", 10)
expect("kafka> ")
print("CTRLC", True)
time.sleep(0.2)
print("UNKNOWN", "does not exist" in command('describe("no-such-topic")', "does not exist"))
print("TYPO", "did you mean cluster.kill(id)?" in command("cluster.kil(2)", "type help()"))
print("HELP", "script API" in command("help", "describe(topic)"))
print("BARE", "call it as describe(topic)" in command("describe", "describe(topic)"))
table = command('describe("%s")' % topic, "Partition: 2")
print("TABLE", "Replicas:" in table and "Isr:" in table)
command('let c = consumer("%s", #{group: "pty-group"})' % topic, "assigned partitions")
print("LIVE", "hello" in command('producer().send("%s", "hello from the pty")' % topic, "[pty-group/c1] hello from the pty", 20))
time.sleep(0.3)
send("\x04")
expect("bye")
_, status = os.waitpid(pid, 0)
print("EXIT", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repl_works_in_a_terminal_and_leaves_nothing_behind() {
    bounded(async {
        let home = std::env::temp_dir().join(format!("kafka-sandbox-pty-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let topic = unique("pty");
        let output = tokio::time::timeout(
            Duration::from_secs(80),
            tokio::process::Command::new("/usr/bin/python3")
                .args([
                    "-c",
                    DRIVER,
                    env!("CARGO_BIN_EXE_kafka-sandbox"),
                    home.to_str().unwrap(),
                    &topic,
                ])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the session finishes")
        .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "driver failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("ERROR 1"),
            "a bad line prints one error and the prompt returns:\n{stdout}"
        );
        assert!(
            stdout.contains("TYPO True"),
            "a mistyped function name gets a suggestion:\n{stdout}"
        );
        assert!(
            stdout.contains("HELP True"),
            "a bare `help` lists the API:\n{stdout}"
        );
        assert!(
            stdout.contains("BARE True"),
            "a function typed without parentheses is shown called:\n{stdout}"
        );
        assert!(
            stdout.contains("TABLE True"),
            "describe prints the table:\n{stdout}"
        );
        assert!(
            stdout.contains("LIVE True"),
            "consumer output appears live:\n{stdout}"
        );
        assert!(
            stdout.contains("EXIT 0"),
            "Ctrl-D exits with status 0:\n{stdout}"
        );
        // Nothing left behind: the broker ports are free and no consumer process survives.
        let bootstrap = stdout
            .lines()
            .find_map(|l| l.strip_prefix("BANNER "))
            .expect("banner")
            .to_string();
        for addr in bootstrap.split(',') {
            assert!(
                std::net::TcpStream::connect(addr).is_err(),
                "{addr} still accepts connections"
            );
        }
        let survivors: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .filter(|cmd| cmd.contains("consume") && cmd.contains(&topic))
            .collect();
        assert!(
            survivors.is_empty(),
            "a consumer process survived: {survivors:?}"
        );
        assert!(
            home.join(".kafka_sandbox_history").exists(),
            "history is saved"
        );
    })
    .await;
}

/// SIGTERM (and SIGHUP, the terminal closing) at the prompt: the REPL stops the cluster with
/// its consumers, gives the terminal back in the mode it found it, and exits with the
/// signal's status (128 + its number).
const ENDED_BY: &str = r#"
import termios
which = signal.SIG_WHICH_
banner = expect("kafka> ", 60)
ok("BANNER", [l for l in banner.splitlines() if "bootstrap servers:" in l][0].split("bootstrap servers: ")[1].split()[0])
statement('let c = consumer("%s", #{group: "sig-group"})' % tag)
ok("RAW", 0 if termios.tcgetattr(fd)[3] & termios.ICANON else 1)
os.kill(pid, which)
expect("received; stopping the cluster", 15)
ok("STATUS", finish(30))
ok("CANONICAL", 1 if termios.tcgetattr(fd)[3] & termios.ICANON else 0)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_at_the_prompt_stop_everything_and_give_the_terminal_back() {
    bounded(async {
        for (name, status) in [("TERM", "143"), ("HUP", "129")] {
            let topic = unique("signal");
            let steps = ENDED_BY.replace("_WHICH_", name);
            let stdout = crate::pty::drive(
                &["--no-web", "--port", "0"],
                &topic,
                &steps,
                Duration::from_secs(90),
            )
            .await;
            crate::pty::reported(&stdout, "RAW", "1");
            crate::pty::reported(&stdout, "STATUS", status);
            crate::pty::reported(&stdout, "CANONICAL", "1");
            let bootstrap = stdout
                .lines()
                .find_map(|l| l.strip_prefix("BANNER "))
                .expect("banner");
            for addr in bootstrap.split(',') {
                assert!(
                    std::net::TcpStream::connect(addr).is_err(),
                    "SIG{name}: {addr} still accepts connections"
                );
            }
            let consumers: Vec<String> = std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
                .filter(|cmd| cmd.contains(" consume ") && cmd.contains(&topic))
                .collect();
            assert!(
                consumers.is_empty(),
                "SIG{name}: consumers left: {consumers:?}"
            );
        }
    })
    .await;
}
