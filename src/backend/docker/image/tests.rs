//! The node image's build context, `ldd` parsing, and a build run for real.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};

use super::super::ownership::LABEL;
use super::*;

/// Where the Dockerfile puts the binary and points the entrypoint.
const BINARY_PATH: &str = "/kafka-sandbox";

const DEBIAN_12: &str = "\tlinux-vdso.so.1 (0x00007ffd5a5f1000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f5cb5b6b000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f5cb5b4b000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f5cb5a6b000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5cb441e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f5cb5b9d000)
";

#[test]
fn ldd_output_lists_the_libraries_and_the_loader_but_not_the_vdso() {
    let libs = parse_ldd(DEBIAN_12).unwrap();
    let expected = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libgcc_s.so.1",
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ];
    assert_eq!(libs, expected.map(PathBuf::from));
    // Older ldd prints the vdso with an empty target; repeated libraries count once.
    let old = "\tlinux-vdso.so.1 =>  (0x00007ffd)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
    assert_eq!(parse_ldd(old).unwrap(), [PathBuf::from("/lib/libc.so.6")]);
}

#[test]
fn a_static_binary_needs_no_libraries() {
    assert!(parse_ldd("\tnot a dynamic executable\n")
        .unwrap()
        .is_empty());
    assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
}

#[test]
fn a_missing_library_is_an_error_naming_it() {
    let output = DEBIAN_12.replace(
        "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f5cb5b6b000)",
        "libsasl2.so.2 => not found",
    );
    let err = parse_ldd(&output).unwrap_err();
    assert!(
        matches!(&err, ImageError::MissingLibrary(name) if name == "libsasl2.so.2"),
        "{err}"
    );
    assert!(err.to_string().contains("libsasl2.so.2"), "{err}");
}

#[test]
fn the_context_holds_symlinked_libraries_under_their_own_name() {
    let dir = std::env::temp_dir().join(format!("kafka-sandbox-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("exe");
    let real = dir.join("libx.so.1.2");
    let link = dir.join("libx.so.1");
    std::fs::write(&exe, b"binary").unwrap();
    std::fs::write(&real, b"library").unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let binary = Binary {
        version: "9.9.9".into(),
        digest: "abc123".into(),
    };
    let context = build_context(&dockerfile(&binary), &exe, std::slice::from_ref(&link));
    std::fs::remove_dir_all(&dir).unwrap();

    let context = context.unwrap();
    let mut archive = tar::Archive::new(context.as_slice());
    let mut entries = HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        entries.insert(path.trim_end_matches('/').to_string(), (mode, content));
    }
    let lib = format!("rootfs{}", link.display());
    assert_eq!(entries[&lib], (0o755, "library".to_string()));
    assert_eq!(entries["kafka-sandbox"], (0o755, "binary".to_string()));
    let recipe = &entries["Dockerfile"].1;
    assert!(recipe.starts_with("FROM scratch\n"), "{recipe}");
    assert!(
        recipe.ends_with(
            "LABEL io.kafka-sandbox.node=\"1\" io.kafka-sandbox.node.version=\"9.9.9\" \
             io.kafka-sandbox.node.sha256=\"abc123\"\n"
        ),
        "{recipe}"
    );
    assert_eq!(entries["rootfs/etc/nsswitch.conf"].1, NSSWITCH);
    assert_eq!(entries["rootfs/tmp"].0, 0o1777);
    let parent = format!("rootfs{}", dir.display());
    assert_eq!(entries[&parent].0, 0o755);
}

/// Builds an image from this test binary (which links the same libraries as the sandbox
/// binary) and runs `--list` in it. Skipped when no Docker engine is reachable.
#[tokio::test]
async fn the_image_runs_the_binary_without_a_registry() {
    let docker = match Docker::connect_with_local_defaults() {
        Ok(d) => d,
        Err(e) => return eprintln!("skipped: no Docker engine ({e})"),
    };
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return eprintln!("skipped: no Docker engine ({e})"),
        Err(_) => return eprintln!("skipped: the Docker engine did not answer in 3 s"),
    }
    let container = format!("kafka-sandbox-image-test-{}", std::process::id());
    let outcome =
        tokio::time::timeout(Duration::from_secs(120), build_and_run(&docker, &container)).await;
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(&container, Some(remove)).await;
    if let Ok(Ok(tag)) | Ok(Err((_, Some(tag)))) = &outcome {
        let remove = RemoveImageOptionsBuilder::default().force(true).build();
        let _ = docker.remove_image(tag, Some(remove), None).await;
    }
    outcome
        .expect("timed out after 120 s")
        .map_err(|(e, _)| e)
        .unwrap();
}

/// Why the built image did not do what the test expects.
#[derive(Debug, thiserror::Error)]
enum RunFailed {
    #[error("cannot find the test binary: {0}")]
    Exe(std::io::Error),
    #[error(transparent)]
    Build(#[from] ImageError),
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("unexpected image {id}: {image:?}")]
    UnexpectedImage {
        id: String,
        image: Box<bollard::models::ImageInspect>,
    },
    #[error("container exit {exit:?}, output:\n{logs}")]
    Exit {
        exit: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
        logs: String,
    },
    #[error("`--list` did not list this test:\n{0}")]
    NotListed(String),
}

/// Builds (returning the tag, also on failure once built) and runs the image.
async fn build_and_run(
    docker: &Docker,
    container: &str,
) -> Result<String, (RunFailed, Option<String>)> {
    let exe = std::env::current_exe().map_err(|e| (RunFailed::Exe(e), None))?;
    let built = build(docker, &exe, Tagging::ContentOnly, &mut |line| {
        eprintln!("{line}")
    })
    .await
    .map_err(|e| (e.into(), None))?;
    let tag = built.tags[0].clone();
    run_built(docker, &built, container)
        .await
        .map(|()| tag.clone())
        .map_err(|e| (e, Some(tag)))
}

async fn run_built(docker: &Docker, built: &Built, container: &str) -> Result<(), RunFailed> {
    let tag = built.tags[0].as_str();
    let id = built.id.clone();
    let image = docker.inspect_image(tag).await?;
    let config = image.config.clone().unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    // Checked without panicking, so the caller still cleans up.
    if image.id.as_deref() != Some(id.as_str())
        || built.tags.len() != 1
        || Binary::read(&std::env::current_exe().map_err(RunFailed::Exe)?)
            .map_err(RunFailed::Exe)?
            .compare(&labels)
            != super::super::identity::Holds::This
        // Containers of the image must not look like the sandbox's own to `docker clean`.
        || labels.contains_key(LABEL)
        || config.entrypoint != Some(vec![BINARY_PATH.to_string()])
    {
        return Err(RunFailed::UnexpectedImage {
            id,
            image: Box::new(image),
        });
    }

    let options = CreateContainerOptionsBuilder::default()
        .name(container)
        .build();
    let body = ContainerCreateBody {
        image: Some(tag.to_string()),
        cmd: Some(vec!["--list".to_string()]),
        ..Default::default()
    };
    docker.create_container(Some(options), body).await?;
    docker
        .start_container(
            container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await?;
    let exit = docker
        .wait_container(
            container,
            None::<bollard::query_parameters::WaitContainerOptions>,
        )
        .next()
        .await;
    let logs: Vec<String> = docker
        .logs(
            container,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .map(|l| l.map(|l| l.to_string()).unwrap_or_default())
        .collect()
        .await;
    let logs = logs.concat();
    match exit {
        Some(Ok(r)) if r.status_code == 0 => {}
        exit => return Err(RunFailed::Exit { exit, logs }),
    }
    let this_test = "the_image_runs_the_binary_without_a_registry: test";
    if !logs.contains(this_test) {
        return Err(RunFailed::NotListed(logs));
    }
    Ok(())
}
