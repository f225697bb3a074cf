//! Resident memory: of an idle `kafka-sandbox serve`, and of the node processes or containers
//! of the other backends.

use std::process::Stdio;
use std::time::Duration;

pub fn idle_rss_mb() -> f64 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(["serve", "--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("binary");
    std::thread::sleep(Duration::from_secs(3));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("proc status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    drop(child.stdin.take());
    let _ = child.wait();
    kb / 1024.0
}

/// Resident memory of every `kafka-sandbox node` process that is a child of this process or
/// of a container's init (pids given), in MB.
pub fn rss_mb(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

pub fn node_child_pids() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid.as_deref() == Some(me.as_str()) && String::from_utf8_lossy(&cmd).contains("node")
        })
        .collect()
}

pub async fn container_pids() -> Vec<u32> {
    use kafka_sandbox::backend::docker::ownership::{Owner, OWNER_LABEL};
    let Ok(engine) = kafka_sandbox::backend::docker::containers::Engine::connect().await else {
        return Vec::new();
    };
    // This process's run: the containers whose owner label names this process.
    let filters =
        std::collections::HashMap::from([("label".to_string(), vec![OWNER_LABEL.to_string()])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    let Ok(list) = engine.docker().list_containers(Some(options)).await else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for container in list {
        let ours = container
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .and_then(|o| Owner::parse(o))
            .is_some_and(|o| o.pid() == std::process::id());
        let Some(id) = container.id.filter(|_| ours) else {
            continue;
        };
        if let Ok(inspect) = engine
            .docker()
            .inspect_container(
                &id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            pids.extend(inspect.state.and_then(|s| s.pid).map(|p| p as u32));
        }
    }
    pids
}
