//! How the cluster's costs grow with the partition count: `scripts/bench/scale.rhai` run by
//! `kafka-sandbox run` (release build) with 1,000 and 10,000 partitions — and 30,000 with
//! `BENCH_SCALE=1000,10000,30000` — printing its figures and the run's peak resident memory;
//! then the cluster's own cost of a send at each size, without librdkafka ([`wire_send`]); then
//! the cost of a send through librdkafka alone on the sandbox and on peers ([`client_send`]), to
//! tell the client's growth from the cluster's.

use std::process::{Command, Stdio};

use crate::client_send::{self, Target};
use crate::wire_send;

const SCRIPT: &str = include_str!("../../scripts/bench/scale.rhai");

pub fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SCALE")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("| partitions (RF 3) | create | one synchronous send | kill → all led | restart → every ISR full | peak RSS |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for &n in &sizes {
        match run(n) {
            Ok(row) => println!("{row}"),
            Err(e) => println!("| {n} | failed: {e} | | | | |"),
        }
    }
    println!();
    println!(
        "| partitions (RF 3) | one synchronous acks=all send, protocol client (no librdkafka) |"
    );
    println!("| --- | --- |");
    for &n in &sizes {
        match wire_send::mean_ms(n) {
            Ok(ms) => println!("| {n} | {ms:.3} ms |"),
            Err(e) => println!("| {n} | failed: {e} |"),
        }
    }
    println!();
    let targets: Vec<Target> = [Target::Sandbox, Target::Mock, Target::Tansu]
        .into_iter()
        .filter(|t| *t != Target::Tansu || crate::tansu_binary().is_some())
        .collect();
    println!("One synchronous acks=all send through librdkafka (`linger.ms=0`), by cluster:");
    let labels: Vec<&str> = targets.iter().map(|t| t.label()).collect();
    println!("| partitions | {} |", labels.join(" | "));
    println!("|{}", " --- |".repeat(targets.len() + 1));
    let mut figures: Vec<Vec<Option<f64>>> = Vec::new();
    for &n in &sizes {
        let row: Vec<Option<f64>> = targets
            .iter()
            .map(|&t| match client_send::mean_ms(t, n) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    eprintln!("client send, {}, {n} partitions: {e}", t.label());
                    None
                }
            })
            .collect();
        let cells: Vec<String> = row
            .iter()
            .map(|f| f.map_or("failed".into(), |ms| format!("{ms:.3} ms")))
            .collect();
        println!("| {n} | {} |", cells.join(" | "));
        figures.push(row);
    }
    if let (Some(first), Some(last)) = (figures.first(), figures.last()) {
        let ratios: Vec<String> = first
            .iter()
            .zip(last)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => format!("{:.1}×", b / a),
                _ => "—".into(),
            })
            .collect();
        println!(
            "| {} ÷ {} | {} |",
            sizes.last().unwrap_or(&0),
            sizes.first().unwrap_or(&0),
            ratios.join(" | ")
        );
    }
}

fn run(partitions: usize) -> Result<String, String> {
    let script = SCRIPT.replacen(
        "let partitions = 1000;",
        &format!("let partitions = {partitions};"),
        1,
    );
    let path = std::env::temp_dir().join(format!(
        "kafka-sandbox-scale-{}-{partitions}.rhai",
        std::process::id()
    ));
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let child = Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(["run", "--no-web"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let output = child.wait_with_output();
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(|e| e.to_string())?;
    let peak_mb = children_peak_rss_mb();
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{}{}", text.trim(), err.trim()).replace('\n', " "));
    }
    let figure = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("scale: {name} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or(format!("the script printed no `{name}` figure"))
    };
    let ms = |v: f64| {
        if v >= 1000.0 {
            format!("{:.2} s", v / 1000.0)
        } else {
            format!("{v:.2} ms")
        }
    };
    Ok(format!(
        "| {partitions} | {} | {} | {} | {} | {peak_mb:.0} MB |",
        ms(figure("create")?),
        ms(figure("send")?),
        ms(figure("failover")?),
        ms(figure("catch-up")?),
    ))
}

/// The largest peak resident set of the children reaped so far: the `run` just waited for, as
/// runs are sequential and each is bigger than the one before.
fn children_peak_rss_mb() -> f64 {
    // SAFETY: getrusage with a valid pointer to a zeroed struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}
