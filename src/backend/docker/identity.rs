//! Which kafka-sandbox binary a node image holds, so a run never uses another build unnoticed.
//!
//! The image is tagged by the binary's content (`kafka-sandbox-node:<version>-<sha256 prefix>`,
//! never moved) and, for people, by two moving tags (`:<version>` and `:latest`). Its labels
//! record the version and the full digest; a run checks them at start: another version is
//! refused (the nodes and the sandbox share settings that change between versions), another
//! build of the same version is allowed with a note saying how to rebuild.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The node image's repository name.
pub const REPOSITORY: &str = "kafka-sandbox-node";
/// Image label marking the sandbox's node image (value "1"). Containers made from the image
/// inherit it, which is harmless: `docker clean` looks only at run labels.
pub(crate) const NODE_LABEL: &str = "io.kafka-sandbox.node";
/// Image label: the version of the binary inside.
pub(crate) const VERSION_LABEL: &str = "io.kafka-sandbox.node.version";
/// Image label: the SHA-256 of the binary inside.
pub(crate) const DIGEST_LABEL: &str = "io.kafka-sandbox.node.sha256";
/// The version of this binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A kafka-sandbox binary, identified by its version and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    /// The version it reports.
    pub version: String,
    /// SHA-256 of its bytes, in hex.
    pub digest: String,
}

impl Binary {
    /// The binary at `path` (assumed to be this version of kafka-sandbox).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            version: VERSION.to_string(),
            digest,
        })
    }

    /// The tag no other binary gets: `kafka-sandbox-node:<version>-<first 12 hex digits>`.
    pub fn content_tag(&self) -> String {
        format!("{REPOSITORY}:{}-{}", self.version, self.short_digest())
    }

    /// Every tag `kafka-sandbox image build` gives: the content tag first, then the moving
    /// `:<version>` and `:latest`.
    pub fn tags(&self) -> Vec<String> {
        vec![
            self.content_tag(),
            format!("{REPOSITORY}:{}", self.version),
            format!("{REPOSITORY}:latest"),
        ]
    }

    /// The image labels recording this binary.
    pub(crate) fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            (NODE_LABEL, "1".to_string()),
            (VERSION_LABEL, self.version.clone()),
            (DIGEST_LABEL, self.digest.clone()),
        ]
    }

    fn short_digest(&self) -> &str {
        &self.digest[..self.digest.len().min(12)]
    }

    /// What an image with `labels` holds, compared with this binary.
    pub fn compare(&self, labels: &HashMap<String, String>) -> Holds {
        match (labels.get(VERSION_LABEL), labels.get(DIGEST_LABEL)) {
            (Some(version), _) if *version != self.version => Holds::OtherVersion(version.clone()),
            (None, _) => Holds::OtherVersion("of an older kafka-sandbox".to_string()),
            (Some(_), Some(digest)) if *digest == self.digest => Holds::This,
            (Some(_), digest) => Holds::OtherBuild(digest.cloned().unwrap_or_default()),
        }
    }
}

/// What a node image holds, compared with the running binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// This very binary.
    This,
    /// Another build of this version (its digest).
    OtherBuild(String),
    /// Another version (as the image labels it).
    OtherVersion(String),
}

/// Whether the image's labels mark it as the sandbox's node image.
pub(crate) fn is_node_image(labels: &HashMap<String, String>) -> bool {
    labels.contains_key(NODE_LABEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_content_and_the_moving_versions() {
        let path = std::env::temp_dir().join(format!("ksb-identity-{}", std::process::id()));
        std::fs::write(&path, b"abc").unwrap();
        let binary = Binary::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // SHA-256("abc"), FIPS 180-2's first example.
        assert_eq!(
            binary.digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            binary.tags(),
            [
                format!("kafka-sandbox-node:{VERSION}-ba7816bf8f01"),
                format!("kafka-sandbox-node:{VERSION}"),
                "kafka-sandbox-node:latest".to_string(),
            ]
        );
    }

    #[test]
    fn images_of_another_build_or_version_are_told_apart() {
        let binary = Binary {
            version: "0.2.0".into(),
            digest: "aa".into(),
        };
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let this: HashMap<String, String> = binary
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert!(is_node_image(&this));
        assert_eq!(binary.compare(&this), Holds::This);
        assert_eq!(
            binary.compare(&labels(&[(VERSION_LABEL, "0.2.0"), (DIGEST_LABEL, "bb")])),
            Holds::OtherBuild("bb".into())
        );
        assert_eq!(
            binary.compare(&labels(&[(VERSION_LABEL, "0.1.0"), (DIGEST_LABEL, "aa")])),
            Holds::OtherVersion("0.1.0".into())
        );
        assert!(matches!(
            binary.compare(&labels(&[(NODE_LABEL, "1")])),
            Holds::OtherVersion(_)
        ));
    }
}
