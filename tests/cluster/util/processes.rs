//! Child processes a test runs: the sandbox binary itself (`run`, any subcommand), kafka-python
//! scripts, and reading a child's output until a line appears.

use std::time::Duration;

/// Reads a child's stdout until a line contains `needle` (15 s at most); `seen` keeps every
/// line for the failure message.
pub async fn read_until<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    needle: &str,
    seen: &mut Vec<String>,
) -> String {
    read_until_within(lines, needle, seen, Duration::from_secs(15)).await
}

/// [`read_until`] with a time limit of `within`.
pub async fn read_until_within<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    needle: &str,
    seen: &mut Vec<String>,
    within: Duration,
) -> String {
    let found = tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!(
            "'{needle}' never printed; output so far:\n{}",
            seen.join("\n")
        ),
    }
}

/// Writes a script file in this test run's temporary directory.
pub fn script_file(name: &str, source: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-sandbox-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

/// Runs a kafka-python `script` with `args` (as `sys.argv[1:]`) and returns what it printed;
/// a failed script fails the test with its output.
pub async fn kafka_python(script: &'static str, args: Vec<String>) -> String {
    python_with(None, script, args).await
}

/// Where `.ci/run` installs kafka-python 2.2 (the first with a transactional producer; Debian
/// ships 2.0): `target/python`.
pub const KAFKA_PYTHON_2_2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/python");

/// Like [`kafka_python`], with kafka-python 2.2 from [`KAFKA_PYTHON_2_2`] instead of Debian's.
pub async fn kafka_python_2_2(script: &'static str, args: Vec<String>) -> String {
    assert!(
        std::path::Path::new(KAFKA_PYTHON_2_2)
            .join("kafka")
            .is_dir(),
        "kafka-python 2.2 is not installed in {KAFKA_PYTHON_2_2}: run .ci/run, or \
         /usr/bin/python3 -m pip install --target target/python kafka-python==2.2.15"
    );
    python_with(Some(KAFKA_PYTHON_2_2), script, args).await
}

async fn python_with(
    path: Option<&'static str>,
    script: &'static str,
    args: Vec<String>,
) -> String {
    let output = tokio::task::spawn_blocking(move || {
        let mut python = std::process::Command::new("/usr/bin/python3");
        if let Some(path) = path {
            python.env("PYTHONPATH", path);
        }
        python.arg("-c").arg(script).args(&args).output()
    })
    .await
    .unwrap()
    .expect("python runs (install python3-kafka)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kafka-python failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs the binary with `args` (80 s at most) and returns its output.
pub async fn sandbox(args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(80), child)
        .await
        .expect("finishes")
        .expect("runs")
}

/// `kafka-sandbox run` on a script written from `source`.
pub async fn run(name: &str, source: &str) -> std::process::Output {
    let path = script_file(name, source);
    sandbox(&["run", path.to_str().unwrap()]).await
}

/// (stdout, stderr) as text.
pub fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
