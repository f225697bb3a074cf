//! Getting the image a run needs: inspect it, pull it when it is missing and a registry
//! answers (printing Docker's progress), and check that a sandbox node image holds this
//! version of kafka-sandbox.

use std::collections::HashMap;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::containers::Engine;
use super::error::DockerError;
use super::identity::{self, Binary, Holds};
use crate::backend::ClusterError;

/// How long a pull may go without a word from the engine before the sandbox gives up.
const PULL_SILENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// What kind of image a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImageKind {
    /// The sandbox's own node image.
    SandboxNode,
    /// Anything else, taken to be Apache Kafka.
    ApacheKafka,
}

/// Makes sure `image` is on this machine (pulling it if need be) and says what kind it is.
pub(super) async fn ensure(
    engine: &Engine,
    image: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<ImageKind, ClusterError> {
    let docker = engine.docker();
    let inspect = match docker.inspect_image(image).await {
        Ok(inspect) => inspect,
        Err(cause) if is_not_found(&cause) && !image.starts_with(identity::REPOSITORY) => {
            pull(engine, image, progress).await?;
            docker
                .inspect_image(image)
                .await
                .map_err(|cause| DockerError::ImageMissing {
                    image: image.to_string(),
                    cause,
                })?
        }
        Err(cause) => {
            return Err(DockerError::ImageMissing {
                image: image.to_string(),
                cause,
            }
            .into())
        }
    };
    let labels: HashMap<String, String> = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    if !identity::is_node_image(&labels) {
        return Ok(ImageKind::ApacheKafka);
    }
    let exe = std::env::current_exe().ok();
    let this = tokio::task::spawn_blocking(move || exe.and_then(|e| Binary::read(&e).ok()))
        .await
        .ok()
        .flatten();
    match this.map(|binary| (binary.compare(&labels), binary)) {
        Some((Holds::OtherVersion(found), _)) => {
            return Err(DockerError::NodeImageVersion {
                image: image.to_string(),
                found,
            }
            .into())
        }
        Some((Holds::OtherBuild(digest), binary)) => progress(&format!(
            "note: {image} holds another build of kafka-sandbox {} (sha256 {}…, this one is {}…); \
             `kafka-sandbox image build` makes an image of this one ({})",
            binary.version,
            &digest[..digest.len().min(12)],
            &binary.digest[..12],
            binary.content_tag()
        )),
        Some((Holds::This, _)) | None => {}
    }
    Ok(ImageKind::SandboxNode)
}

fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Pulls `image`, printing each new status line Docker reports.
async fn pull(
    engine: &Engine,
    image: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ClusterError> {
    progress(&format!("{image} is not on this machine; pulling it…"));
    let (repo, tag) = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    };
    let options = CreateImageOptionsBuilder::default()
        .from_image(repo)
        .tag(tag)
        .build();
    let mut stream = engine.docker().create_image(Some(options), None, None);
    let mut last = String::new();
    loop {
        let item = match tokio::time::timeout(PULL_SILENCE, stream.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) => {
                return Err(DockerError::PullSilent {
                    image: image.to_string(),
                    waited: PULL_SILENCE,
                }
                .into())
            }
        };
        let info = item.map_err(|cause| DockerError::Pull {
            image: image.to_string(),
            cause,
        })?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(DockerError::Pull {
                image: image.to_string(),
                cause: bollard::errors::Error::DockerStreamError { error: message },
            }
            .into());
        }
        // Layer-by-layer byte counts would flood the terminal; one line per status change.
        let line = match (info.id, info.status) {
            (Some(id), Some(status)) => format!("{id}: {status}"),
            (None, Some(status)) => status,
            _ => continue,
        };
        if line != last && !line.contains("Downloading") && !line.contains("Extracting") {
            progress(&line);
            last = line;
        }
    }
    Ok(())
}
