//! Why a Docker call failed (which container, network or image, with bollard's own error kept),
//! and why the sandbox's node image could not be built.

use std::path::PathBuf;
use std::time::Duration;

use bollard::errors::Error as Bollard;

/// What the sandbox asked Docker to do to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    /// `docker stop`.
    Stop,
    /// `docker kill`.
    Kill,
    /// `docker start`.
    Start,
    /// `docker pause`.
    Pause,
    /// `docker unpause`.
    Unpause,
    /// `docker network disconnect`.
    Disconnect,
    /// `docker network connect`.
    Reconnect,
    /// `docker inspect`.
    Inspect,
    /// `docker logs`.
    ReadLogs,
    /// `docker rm -f`.
    Remove,
}

impl std::fmt::Display for ContainerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContainerAction::Stop => "stop",
            ContainerAction::Kill => "kill",
            ContainerAction::Start => "start",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Disconnect => "disconnect",
            ContainerAction::Reconnect => "reconnect",
            ContainerAction::Inspect => "inspect",
            ContainerAction::ReadLogs => "read the logs of",
            ContainerAction::Remove => "remove",
        })
    }
}

/// Why the Docker engine refused or failed, phrased for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine cannot be reached at all.
    #[error("no Docker engine is reachable ({cause}); start Docker (or set DOCKER_HOST), or use --cluster embedded")]
    Unreachable {
        /// What bollard saw.
        cause: Bollard,
    },
    /// The engine was reached but did not answer in time.
    #[error("no Docker engine is reachable (no answer within {} s); start Docker (or set DOCKER_HOST), or use --cluster embedded", .waited.as_secs())]
    Silent {
        /// How long the sandbox waited.
        waited: Duration,
    },
    /// The image to run is not on this machine.
    #[error("docker: image {image} is not on this machine ({cause}); pull it (`docker pull {image}`) where a registry is reachable, or build the sandbox's own with `kafka-sandbox image build` and pass --image {}", super::image::NODE_IMAGE)]
    ImageMissing {
        /// The image reference.
        image: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// The node image holds another version of kafka-sandbox than the one running.
    #[error("docker: image {image} holds kafka-sandbox {found}, not this {}; rebuild it from this binary with `kafka-sandbox image build`", super::identity::VERSION)]
    NodeImageVersion {
        /// The image reference.
        image: String,
        /// The version its labels give.
        found: String,
    },
    /// The image is not here and could not be pulled.
    #[error("docker: image {image} is not on this machine and cannot be pulled ({cause}); pull it where a registry is reachable and `docker load` it here, or build the sandbox's own with `kafka-sandbox image build` and pass --image {}", super::image::NODE_IMAGE)]
    Pull {
        /// The image reference.
        image: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// A pull went silent.
    #[error("docker: pulling {image} made no progress for {} s; check the engine's registry access, or `docker load` the image", .waited.as_secs())]
    PullSilent {
        /// The image reference.
        image: String,
        /// How long nothing came.
        waited: Duration,
    },
    /// The brokers did not form a cluster in time.
    #[error("docker: the brokers did not form a cluster within {} s ({cause}); {}{}", .waited.as_secs(), kept_hint(*.kept, .run), .logs)]
    NotReady {
        /// The run id.
        run: String,
        /// How long the sandbox waited.
        waited: Duration,
        /// Why the last attempt failed.
        cause: Box<crate::backend::ClusterError>,
        /// The last log lines of each container that did not come up, each under its name.
        logs: String,
        /// Whether the containers were kept (`--keep-on-failure`).
        kept: bool,
    },
    /// A signal ended the start; what was created has been removed.
    #[error("docker: {0} received while the containers started; removed what was started")]
    Interrupted(&'static str),
    /// The cluster's network could not be created.
    #[error("docker: cannot create network {network}: {cause}; if an old sandbox network is in the way, run `kafka-sandbox docker clean`")]
    CreateNetwork {
        /// The network.
        network: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// A broker container could not be created.
    #[error("docker: cannot create {container}: {cause}{}", create_hint(.cause))]
    CreateContainer {
        /// The container.
        container: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// A new broker container could not be started.
    #[error("docker: cannot start {container}: {cause}{}", start_hint(.cause))]
    StartContainer {
        /// The container.
        container: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// A container stopped while the cluster was forming.
    #[error("docker: container {container} exited while starting; its last log lines:\n{logs}")]
    ExitedWhileStarting {
        /// The container.
        container: String,
        /// Its last lines.
        logs: String,
    },
    /// A container named for a broker (`--containers`) does not exist.
    #[error("docker: no container {container} for broker {id}: {cause}; name an existing container with --containers {id}=NAME")]
    NoContainer {
        /// The broker.
        id: i32,
        /// The container named for it.
        container: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// A container to drive is on no network, so it cannot be isolated and healed.
    #[error("docker: container {container} is on no network; connect it to the cluster's network, or name another with --containers")]
    NoNetwork {
        /// The container.
        container: String,
    },
    /// An action on one container failed.
    #[error("docker: cannot {action} {container}: {cause}; `docker ps -a` shows its state")]
    Container {
        /// What was asked.
        action: ContainerAction,
        /// The container.
        container: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// The sandbox's containers or networks could not be listed.
    #[error(
        "docker: cannot list the sandbox's {what}: {cause}; is the Docker engine still running?"
    )]
    List {
        /// `containers` or `networks`.
        what: &'static str,
        /// What the engine said.
        cause: Bollard,
    },
    /// A sandbox network could not be removed.
    #[error("docker: cannot remove network {network}: {cause}; `docker network inspect {network}` shows what still uses it")]
    RemoveNetwork {
        /// The network.
        network: String,
        /// What the engine said.
        cause: Bollard,
    },
}

impl DockerError {
    /// The error for `action` on `container`, for `map_err`.
    pub(crate) fn on(action: ContainerAction, container: &str) -> impl FnOnce(Bollard) -> Self {
        let container = container.to_string();
        move |cause| DockerError::Container {
            action,
            container,
            cause,
        }
    }
}

/// Why the node image could not be built, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// `ldd` is not installed.
    #[error("ldd not found: install libc-bin (it lists the shared libraries the binary needs)")]
    NoLdd,
    /// `ldd` could not be run.
    #[error("cannot run ldd on {}: {cause}; check that ldd works on this machine", .exe.display())]
    Ldd {
        /// The binary.
        exe: PathBuf,
        /// Why not.
        cause: std::io::Error,
    },
    /// `ldd` ran and failed.
    #[error("ldd {} failed ({status}): {stderr}; check that the binary is for this machine", .exe.display())]
    LddFailed {
        /// The binary.
        exe: PathBuf,
        /// How ldd exited.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// The binary needs a library this machine lacks.
    #[error("the binary needs {0}, which ldd cannot find on this machine: install the package that provides it, then build the image again")]
    MissingLibrary(String),
    /// `ldd` named a library at a path that cannot go into the image.
    #[error("ldd reported an unusable library path {}; build on a machine whose libraries sit at plain absolute paths", .0.display())]
    LibraryPath(PathBuf),
    /// A file could not be read into the build context.
    #[error("cannot read the {what} {}: {cause}", .path.display())]
    Read {
        /// `binary` or `library`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        cause: std::io::Error,
    },
    /// The build context could not be packed.
    #[error("cannot pack the build context: {0}")]
    Pack(std::io::Error),
    /// A step run off the async runtime panicked or was cancelled.
    #[error("{step} failed: {cause}")]
    Task {
        /// "listing the shared libraries", "packing the build context".
        step: &'static str,
        /// What happened to it.
        cause: tokio::task::JoinError,
    },
    /// The Docker engine refused the build request.
    #[error("docker build of {tag} failed: {cause}")]
    BuildRequest {
        /// The image tag.
        tag: String,
        /// What bollard saw.
        cause: Bollard,
    },
    /// The build ran and failed; `message` is Docker's own.
    #[error("docker build of {tag} failed: {message}")]
    BuildFailed {
        /// The image tag.
        tag: String,
        /// What the build said.
        message: String,
    },
    /// The build finished but the image cannot be inspected.
    #[error("docker build of {tag} finished but the image cannot be inspected: {cause}")]
    Inspect {
        /// The image tag.
        tag: String,
        /// What the engine said.
        cause: Bollard,
    },
    /// The build finished but the image has no id.
    #[error("docker build of {tag} finished but the image has no id")]
    NoId {
        /// The image tag.
        tag: String,
    },
    /// The built image could not be given one of its moving tags.
    #[error("docker build finished but the image cannot be tagged {tag}: {cause}")]
    Tag {
        /// The tag.
        tag: String,
        /// What the engine said.
        cause: Bollard,
    },
}

fn kept_hint(kept: bool, run: &str) -> String {
    if kept {
        format!("the containers are kept for a look (`docker ps -a --filter label={}={run}`); remove them with `kafka-sandbox docker clean --run {run}`", super::ownership::RUN_LABEL)
    } else {
        "add --keep-on-failure to keep the containers for a look".to_string()
    }
}

/// The engine's own answer to a refused request: its HTTP status and message, read from
/// bollard's typed error rather than from how bollard prints it.
pub(super) fn engine_refusal(cause: &Bollard) -> Option<(u16, &str)> {
    match cause {
        Bollard::DockerResponseServerError {
            status_code,
            message,
        } => Some((*status_code, message.as_str())),
        _ => None,
    }
}

fn create_hint(cause: &Bollard) -> &'static str {
    // The engine answers 409 Conflict when the container name is taken.
    match engine_refusal(cause) {
        Some((409, _)) => {
            "; a container of that name exists: remove it, or run `kafka-sandbox docker clean` if a sandbox left it"
        }
        _ => "",
    }
}

fn start_hint(cause: &Bollard) -> &'static str {
    // A taken host port is a 500 whose message names the port; the status alone cannot tell
    // it from other start failures.
    match engine_refusal(cause) {
        Some((_, message))
            if message.contains("address already in use")
                || message.contains("port is already allocated") =>
        {
            "; a host port is taken: pick others with --port"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status_code: u16, message: &str) -> Bollard {
        Bollard::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        }
    }

    #[test]
    fn a_taken_container_name_says_how_to_clear_it_and_other_refusals_add_nothing() {
        let taken = DockerError::CreateContainer {
            container: "ks-1".into(),
            cause: refused(
                409,
                "Conflict. The container name \"/ks-1\" is already in use",
            ),
        };
        assert!(
            taken.to_string().contains("kafka-sandbox docker clean"),
            "{taken}"
        );
        let other = DockerError::CreateContainer {
            container: "ks-1".into(),
            cause: refused(500, "no space left on device"),
        };
        assert!(!other.to_string().contains("docker clean"), "{other}");
    }

    #[test]
    fn a_taken_host_port_says_to_pick_others_and_only_the_engine_message_counts() {
        let port = DockerError::StartContainer {
            container: "ks-1".into(),
            cause: refused(
                500,
                "driver failed programming external connectivity: Bind for 127.0.0.1:9092 failed: port is already allocated",
            ),
        };
        assert!(
            port.to_string().contains("pick others with --port"),
            "{port}"
        );
        let unreachable = DockerError::StartContainer {
            container: "ks-1".into(),
            cause: Bollard::RequestTimeoutError,
        };
        assert!(!unreachable.to_string().contains("--port"), "{unreachable}");
    }
}
