//! Driving the real binary through a pseudo-terminal, the way a person at a keyboard does:
//! a Python prelude (standard library `pty` only) gives each test `expect`, `send`, `line`,
//! `ctrl_c` and `consumers_of`, and the test writes its steps in a few lines of Python.

use std::time::Duration;

/// Helpers every driver script starts with. `argv[1]` is the binary, `argv[2]` a private
/// HOME, `argv[3]` a unique tag (for topic names), `argv[4:]` the binary's arguments.
const PRELUDE: &str = r#"
import os, pty, sys, time, select, signal
exe, home, tag, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.environ["HOME"] = home
os.environ.setdefault("TERM", "xterm")
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe] + args)
seen = b""
log = b""
def pump(timeout):
    global seen, log
    ready, _, _ = select.select([fd], [], [], timeout)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        seen += chunk
        log += chunk
    return True
def fail(why):
    sys.stdout.write("FAIL %s\n--- terminal ---\n%s\n" % (why, log.decode(errors="replace")))
    sys.stdout.flush()
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    sys.exit(3)
def expect(pattern, timeout=30):
    """Waits for pattern; returns the text up to and including it, and consumes it."""
    global seen
    end = time.time() + timeout
    while pattern.encode() not in seen:
        if time.time() > end:
            fail("timed out waiting for %r" % pattern)
        if not pump(0.05):
            if pattern.encode() not in seen:
                fail("the program ended before printing %r" % pattern)
    i = seen.index(pattern.encode()) + len(pattern)
    before, seen = seen[:i], seen[i:]
    return before.decode(errors="replace")
def quiet_for(seconds):
    """Reads whatever arrives for a while; returns it."""
    global seen
    end = time.time() + seconds
    while time.time() < end:
        pump(0.05)
    text, seen = seen.decode(errors="replace"), b""
    return text
def send(text):
    os.write(fd, text.encode())
def line(text):
    send(text + "\r")
def ctrl_c():
    send("\x03")
def command(text, marker, timeout=30):
    """Types a statement, waits for a marker of its output, then for the next prompt."""
    line(text)
    found = expect(marker, timeout)
    expect("kafka> ", timeout)
    return found
def statement(text, timeout=30):
    """Types a statement and returns everything printed until the next prompt."""
    line(text)
    return expect("kafka> ", timeout)
def consumers_of(needle):
    """Pids of consume processes whose command line contains needle."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % entry, "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if " consume " in cmd and needle in cmd:
            out.append(int(entry))
    return out
def finish(timeout=30):
    """Waits for the program to exit; returns its exit status."""
    end = time.time() + timeout
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        pump(0.05)
    fail("the program did not exit")
def ok(name, value):
    print("%s %s" % (name, value))
    sys.stdout.flush()
"#;

/// Runs `steps` (Python, after the prelude) against `kafka-sandbox ARGS` in a pty. Returns
/// what the driver printed; panics with the terminal transcript if the driver failed.
pub async fn drive(args: &[&str], tag: &str, steps: &str, limit: Duration) -> String {
    let home = std::env::temp_dir().join(format!("kafka-sandbox-pty-{tag}"));
    std::fs::create_dir_all(&home).unwrap();
    let script = format!("{PRELUDE}\n{steps}");
    let mut argv = vec![
        "-c".to_string(),
        script,
        env!("CARGO_BIN_EXE_kafka-sandbox").to_string(),
        home.to_string_lossy().into_owned(),
        tag.to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let output = tokio::time::timeout(
        limit,
        tokio::process::Command::new("/usr/bin/python3")
            .args(&argv)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the pty session finishes in time")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        output.status.success(),
        "pty driver failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts the driver reported `name value`.
pub fn reported(stdout: &str, name: &str, value: &str) {
    let wanted = format!("{name} {value}");
    assert!(
        stdout.lines().any(|l| l == wanted),
        "expected '{wanted}' in:\n{stdout}"
    );
}
