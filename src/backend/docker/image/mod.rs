//! The sandbox's own node image: a `FROM scratch` image holding this binary and the shared
//! libraries it links (found with `ldd`), built by the Docker engine from an in-memory build
//! context, so nothing is pulled from a registry. Containers of it run `kafka-sandbox node ...`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

pub use super::error::ImageError;

pub use super::identity::Binary;

/// The moving tag of this version's node image (`kafka-sandbox image build` sets it).
pub const NODE_IMAGE: &str = concat!("kafka-sandbox-node:", env!("CARGO_PKG_VERSION"));

/// The image holds the binary and its libraries and nothing else. Its labels (last, so a
/// rebuild of another binary reuses the layers) say which binary it is ([`Binary::labels`]);
/// they never include the run label `docker clean` looks for, which containers would inherit.
fn dockerfile(binary: &Binary) -> String {
    let labels: Vec<String> = binary
        .labels()
        .into_iter()
        .map(|(key, value)| format!("{key}=\"{value}\""))
        .collect();
    format!(
        "FROM scratch\nCOPY rootfs/ /\nCOPY kafka-sandbox /kafka-sandbox\n\
         ENTRYPOINT [\"/kafka-sandbox\"]\nCMD [\"node\", \"--help\"]\nLABEL {}\n",
        labels.join(" ")
    )
}

/// Which tags a build gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagging {
    /// Only the content tag: for tests and benchmarks, which must not move a user's tags.
    ContentOnly,
    /// The content tag and the moving `:<version>` and `:latest` (`kafka-sandbox image build`).
    All,
}

/// A built node image.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image id.
    pub id: String,
    /// The binary inside.
    pub binary: Binary,
    /// Its tags, the content tag first.
    pub tags: Vec<String>,
}

/// Host names come from /etc/hosts, then DNS (Docker writes both files into each container);
/// glibc ≥ 2.34 has both sources built in, so no NSS modules are needed.
const NSSWITCH: &str = "hosts: files dns\n";

/// Builds the node image from the binary at `exe`, tagged as `tagging` says. `progress` gets
/// short human-readable lines.
pub async fn build(
    docker: &Docker,
    exe: &Path,
    tagging: Tagging,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, ImageError> {
    let exe = exe.to_path_buf();
    let (binary, libs) = tokio::task::spawn_blocking({
        let exe = exe.clone();
        move || -> Result<_, ImageError> {
            let binary = Binary::read(&exe).map_err(|cause| ImageError::Read {
                what: "binary",
                path: exe.clone(),
                cause,
            })?;
            Ok((binary, shared_libraries(&exe)?))
        }
    })
    .await
    .map_err(|cause| ImageError::Task {
        step: "listing the shared libraries",
        cause,
    })??;
    let mut tags = binary.tags();
    if tagging == Tagging::ContentOnly {
        tags.truncate(1);
    }
    let tag = tags[0].as_str();
    progress(&format!(
        "{} links {} shared libraries",
        exe.display(),
        libs.len()
    ));
    let recipe = dockerfile(&binary);
    let context = tokio::task::spawn_blocking(move || build_context(&recipe, &exe, &libs))
        .await
        .map_err(|cause| ImageError::Task {
            step: "packing the build context",
            cause,
        })??;
    progress(&format!(
        "sending a {} MB build context to the Docker engine",
        context.len() / (1024 * 1024)
    ));

    let options = BuildImageOptionsBuilder::default()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let failed = |message: &str| ImageError::BuildFailed {
        tag: tag.to_string(),
        message: message.trim().to_string(),
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| match e {
            bollard::errors::Error::DockerStreamError { error } => failed(&error),
            cause => ImageError::BuildRequest {
                tag: tag.to_string(),
                cause,
            },
        })?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(failed(&message));
        }
        for line in info.stream.iter().flat_map(|s| s.lines()) {
            let line = line.trim();
            if !line.is_empty() {
                progress(line);
            }
        }
    }
    let image = docker
        .inspect_image(tag)
        .await
        .map_err(|cause| ImageError::Inspect {
            tag: tag.to_string(),
            cause,
        })?;
    let id = image.id.ok_or_else(|| ImageError::NoId {
        tag: tag.to_string(),
    })?;
    for moving in &tags[1..] {
        let (repo, version) = moving.split_once(':').unwrap_or((moving, "latest"));
        let options = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(version)
            .build();
        docker
            .tag_image(&id, Some(options))
            .await
            .map_err(|cause| ImageError::Tag {
                tag: moving.clone(),
                cause,
            })?;
    }
    Ok(Built { id, binary, tags })
}

/// Runs `ldd` on `exe` and returns the libraries it loads.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let output = Command::new("ldd").arg(exe).output().map_err(|cause| {
        if cause.kind() == std::io::ErrorKind::NotFound {
            ImageError::NoLdd
        } else {
            ImageError::Ldd {
                exe: exe.to_path_buf(),
                cause,
            }
        }
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !is_static(&stdout) && !is_static(&stderr) {
        return Err(ImageError::LddFailed {
            exe: exe.to_path_buf(),
            status: output.status,
            stderr: stderr.trim().to_string(),
        });
    }
    parse_ldd(&stdout)
}

fn is_static(ldd_output: &str) -> bool {
    ldd_output.contains("not a dynamic executable") || ldd_output.contains("statically linked")
}

/// The absolute paths of the libraries in `ldd` output, in order and without duplicates; none
/// for a static binary. A library ldd cannot find is an error naming it.
pub(crate) fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, ImageError> {
    if is_static(output) {
        return Ok(Vec::new());
    }
    let mut libs: Vec<PathBuf> = Vec::new();
    for line in output.lines().map(str::trim) {
        let (name, target) = match line.split_once("=>") {
            Some((name, target)) => (name.trim(), target.trim()),
            None => (line, line),
        };
        if target.starts_with("not found") {
            return Err(ImageError::MissingLibrary(name.to_string()));
        }
        let path = target.find("(0x").map_or(target, |at| &target[..at]).trim();
        if path.starts_with('/') && !path.ends_with(':') {
            let path = PathBuf::from(path);
            if !libs.contains(&path) {
                libs.push(path);
            }
        }
    }
    Ok(libs)
}

/// The tar build context: the Dockerfile, the binary at `kafka-sandbox`, and under `rootfs/`
/// the libraries at their absolute paths (a symlink's target content under the symlink's own
/// name, the one the loader looks up) plus `/etc/nsswitch.conf` and an empty `/tmp`.
fn build_context(dockerfile: &str, exe: &Path, libs: &[PathBuf]) -> Result<Vec<u8>, ImageError> {
    let mut rootfs_files = Vec::new();
    for lib in libs {
        let relative = lib
            .strip_prefix("/")
            .ok()
            .filter(|r| {
                r.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            })
            .ok_or_else(|| ImageError::LibraryPath(lib.clone()))?;
        rootfs_files.push((Path::new("rootfs").join(relative), lib.as_path()));
    }
    let mut dirs = BTreeSet::from([
        PathBuf::from("rootfs"),
        PathBuf::from("rootfs/etc"),
        PathBuf::from("rootfs/tmp"),
    ]);
    for (path, _) in &rootfs_files {
        dirs.extend(
            path.ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .map(Path::to_path_buf),
        );
    }

    let mut tar = tar::Builder::new(Vec::new());
    let packing = ImageError::Pack;
    append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes()).map_err(packing)?;
    for dir in &dirs {
        let mode = if dir == Path::new("rootfs/tmp") {
            0o1777
        } else {
            0o755
        };
        let mut header = header(tar::EntryType::Directory, mode, 0);
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(packing)?;
    }
    append(
        &mut tar,
        "rootfs/etc/nsswitch.conf",
        0o644,
        NSSWITCH.as_bytes(),
    )
    .map_err(packing)?;
    append_file(&mut tar, Path::new("kafka-sandbox"), exe).map_err(|cause| ImageError::Read {
        what: "binary",
        path: exe.to_path_buf(),
        cause,
    })?;
    for (path, lib) in &rootfs_files {
        append_file(&mut tar, path, lib).map_err(|cause| ImageError::Read {
            what: "library",
            path: lib.to_path_buf(),
            cause,
        })?;
    }
    tar.into_inner().map_err(packing)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = header(tar::EntryType::Regular, mode, data.len() as u64);
    tar.append_data(&mut header, path, data)
}

/// Appends the content of `source` (following symlinks) as an executable file at `path`.
fn append_file(tar: &mut tar::Builder<Vec<u8>>, path: &Path, source: &Path) -> std::io::Result<()> {
    let file = File::open(source)?;
    let size = file.metadata()?.len();
    let mut header = header(tar::EntryType::Regular, 0o755, size);
    // `take` keeps the entry at the size in its header should the file grow meanwhile.
    tar.append_data(&mut header, path, file.take(size))
}

#[cfg(test)]
mod tests;
