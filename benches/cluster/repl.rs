//! The REPL as a learner feels it: launch to prompt, and send to the consumer's line on screen.

/// Drives the REPL in a pseudo-terminal (Python's pty module): time from launch to the prompt
/// with a ready cluster, and from typing `p.send(...)` to the consumer's line on screen.
const REPL_DRIVER: &str = r#"
import os, pty, sys, time, select, statistics
exe = sys.argv[1]
os.environ["NO_COLOR"] = "1"
os.environ["HOME"] = "/tmp"
t0 = time.time()
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "--port", "0"])
seen = b""
def expect(p, timeout=30):
    global seen
    end = time.time() + timeout
    while p.encode() not in seen:
        r, _, _ = select.select([fd], [], [], 0.001)
        if r:
            seen += os.read(fd, 65536)
        if time.time() > end:
            sys.exit("timeout waiting for " + p)
    i = seen.index(p.encode()) + len(p)
    seen = seen[i:]
prompt = None
expect("kafka> ")
prompt = (time.time() - t0) * 1000
def cmd(text, marker):
    os.write(fd, (text + "\r").encode())
    expect(marker)
    expect("kafka> ")
    time.sleep(0.1)
cmd('create_topic("latency", 8, 3)', "created topic")
cmd('let c = consumer("latency", #{group: "lat"})', "assigned partitions")
cmd('let p = producer(); print(40 + 2)', "42")
lat = []
for i in range(30):
    t = time.time()
    os.write(fd, ('p.send("latency", "probe-%d")\r' % i).encode())
    expect("probe-%d  (p" % i)
    lat.append((time.time() - t) * 1000)
    expect("kafka> ")
    time.sleep(0.05)
os.write(fd, b"")
expect("bye")
os.waitpid(pid, 0)
print("%.1f %.1f" % (prompt, statistics.median(lat)))
"#;

pub fn repl_figures() -> Option<(f64, f64)> {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", REPL_DRIVER, env!("CARGO_BIN_EXE_kafka-sandbox")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((parts.next()??, parts.next()??))
}
