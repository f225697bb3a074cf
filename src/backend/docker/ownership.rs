//! Which run of the sandbox made a container or network, and whether that run is still alive.
//!
//! Everything the docker backend creates is labelled with its run id and its owner (the process
//! that created it). `kafka-sandbox docker clean` removes a run only when its owner is gone, so
//! it never kills a sandbox that is still running, and it never touches a container the sandbox
//! did not create (a user's compose cluster made from the node image carries no run label).
//!
//! An owner is `BOOT:PIDNS:PID:START`: the kernel's boot id and the pid namespace tell whether
//! the pid can be checked from here at all (another machine or container sharing the engine
//! cannot be judged, so its runs are left alone), and the process start time tells a live owner
//! from a later process that reused its pid.

use std::collections::BTreeMap;

/// The label key every object the sandbox creates carries; its value is the object's role
/// (`network`, `controller`, `broker`). Images carry no such label, so containers made from
/// the node image by someone else do not inherit it.
pub const LABEL: &str = "io.kafka-sandbox";
/// The label key holding the run id.
pub const RUN_LABEL: &str = "io.kafka-sandbox.run";
/// The label key holding the owner ([`Owner`]).
pub const OWNER_LABEL: &str = "io.kafka-sandbox.owner";
/// Environment variable that fixes the run id (for scripts and tests that want to find, or
/// clean, exactly their own containers).
pub const RUN_ENV: &str = "KAFKA_SANDBOX_RUN";

/// One run of the docker backend: its id, and names derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Short id, unique per run (8 hex digits unless [`RUN_ENV`] gives one).
    pub id: String,
    /// The process that owns the run.
    pub owner: Owner,
}

impl Run {
    /// A new run owned by this process; the id comes from [`RUN_ENV`] when set.
    pub fn for_this_process() -> Self {
        let id = std::env::var(RUN_ENV)
            .ok()
            .map(|id| sanitize(&id))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string());
        Self {
            id,
            owner: Owner::current(),
        }
    }

    /// The labels of one object of this run with `role`.
    pub fn labels(&self, role: &str) -> BTreeMap<String, String> {
        let mut labels = self.owner_labels();
        labels.insert(LABEL.to_string(), role.to_string());
        labels
    }

    /// The run and owner labels alone (container settings add [`LABEL`] with their role).
    pub fn owner_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (RUN_LABEL.to_string(), self.id.clone()),
            (OWNER_LABEL.to_string(), self.owner.to_string()),
        ])
    }

    /// The container name for `base` (e.g. `kafka-1`): per run, so two sandboxes can share an
    /// engine. Inside the network the container is still reached as `base`.
    pub fn container_name(&self, base: &str) -> String {
        format!("ksb-{}-{base}", self.id)
    }

    /// The name of the run's network.
    pub fn network_name(&self) -> String {
        format!("kafka-sandbox-{}", self.id)
    }
}

/// Keeps the characters Docker allows in names.
fn sanitize(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect()
}

/// The process that created a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    boot: String,
    pid_namespace: String,
    pid: u32,
    start: u64,
}

/// Whether a run's owner still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The owner is running: the run is in use.
    Alive,
    /// The owner has exited: what it left can go.
    Gone,
    /// The owner ran on another machine or in another pid namespace (or is unknown), so this
    /// process cannot tell.
    Unknown,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            boot: boot_id(),
            pid_namespace: pid_namespace(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Reads an owner label; `None` if it is not one.
    pub fn parse(label: &str) -> Option<Self> {
        let mut parts = label.split(':');
        let owner = Self {
            boot: parts.next()?.to_string(),
            pid_namespace: parts.next()?.to_string(),
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(owner)
    }

    /// The owner's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the owner still runs, as far as this process can see.
    pub fn liveness(&self) -> Liveness {
        if self.boot != boot_id() || self.pid_namespace != pid_namespace() {
            return Liveness::Unknown;
        }
        match start_time(self.pid) {
            Some(start) if start == self.start => Liveness::Alive,
            _ => Liveness::Gone,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.boot, self.pid_namespace, self.pid, self.start
        )
    }
}

/// The kernel's boot id: differs between machines (and between boots of one).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().replace('-', ""))
        .unwrap_or_default()
}

/// The inode of this process's pid namespace: containers sharing a kernel differ in it.
fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            let inode = link.strip_prefix("pid:[")?.strip_suffix(']')?.to_string();
            Some(inode)
        })
        .unwrap_or_default()
}

/// When process `pid` started (clock ticks since boot), or `None` if there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count from after it.
    // starttime is field 22, the 20th after the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_exited_one_is_gone() {
        let me = Owner::current();
        assert!(me.start > 0, "start time read from /proc");
        assert_eq!(me.liveness(), Liveness::Alive);
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let exited = Owner {
            pid,
            start: start.unwrap_or(1),
            ..me.clone()
        };
        assert_eq!(exited.liveness(), Liveness::Gone);

        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(
            reused.liveness(),
            Liveness::Gone,
            "a reused pid is not the owner"
        );

        let elsewhere = Owner {
            boot: "another-machine".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        assert_eq!(Owner::parse("1:2:x:4"), None);
        assert_eq!(Owner::parse("1:2:3"), None);
    }

    #[test]
    fn runs_name_their_containers_and_network_apart() {
        let run = Run {
            id: "ab12cd34".into(),
            owner: Owner::current(),
        };
        assert_eq!(run.container_name("kafka-1"), "ksb-ab12cd34-kafka-1");
        assert_eq!(run.network_name(), "kafka-sandbox-ab12cd34");
        let labels = run.labels("broker");
        assert_eq!(labels[LABEL], "broker");
        assert_eq!(labels[RUN_LABEL], "ab12cd34");
        assert!(Owner::parse(&labels[OWNER_LABEL]).is_some());
        assert_eq!(sanitize("my run/1!"), "myrun1");
    }
}
