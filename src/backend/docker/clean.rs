//! `kafka-sandbox docker clean`: removes what sandbox runs left in Docker — by default only the
//! runs whose owner is gone, so a sandbox still running (in this terminal or another) keeps its
//! cluster, and nothing without the sandbox's run label is ever touched.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::containers::Engine;
use super::error::{ContainerAction, DockerError};
use super::ownership::{Liveness, Owner, OWNER_LABEL, RUN_LABEL};
use crate::backend::ClusterError;

/// Which runs to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Runs whose owning process has exited (the default).
    Orphaned,
    /// Every run, owner or not (`--all`).
    All,
    /// These runs, whatever their owner (`--run ID`, and a run cleaning up after itself).
    Runs(Vec<String>),
}

/// Why a run was left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Its owner still runs.
    OwnerRunning(u32),
    /// Its owner is on another machine or in another container, so it cannot be checked.
    OwnerElsewhere,
    /// It records no owner (made by an older kafka-sandbox).
    NoOwner,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kept::OwnerRunning(pid) => write!(f, "its sandbox (pid {pid}) is still running"),
            Kept::OwnerElsewhere => f.write_str(
                "its sandbox runs on another machine or in another container, which cannot be checked from here",
            ),
            Kept::NoOwner => f.write_str("it records no owner"),
        }
    }
}

/// What a clean did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// What was removed: `container NAME` and `network NAME`, in order.
    pub removed: Vec<String>,
    /// Runs left alone, with why.
    pub kept: BTreeMap<String, Kept>,
}

/// Whether run `run`, recorded as owned by `owner`, goes under `scope`; `Err` says why not.
fn verdict(
    scope: &Scope,
    run: &str,
    owner: Option<&str>,
    liveness: impl Fn(&Owner) -> Liveness,
) -> Result<(), Kept> {
    match scope {
        Scope::All => Ok(()),
        Scope::Runs(runs) => {
            if runs.iter().any(|r| r == run) {
                Ok(())
            } else {
                // Not asked about: not reported either.
                Err(Kept::OwnerElsewhere)
            }
        }
        Scope::Orphaned => {
            let owner = owner.and_then(Owner::parse).ok_or(Kept::NoOwner)?;
            match liveness(&owner) {
                Liveness::Gone => Ok(()),
                Liveness::Alive => Err(Kept::OwnerRunning(owner.pid())),
                Liveness::Unknown => Err(Kept::OwnerElsewhere),
            }
        }
    }
}

impl Engine {
    /// Removes the containers (with their volumes) and networks of the runs `scope` names.
    pub async fn clean(&self, scope: &Scope) -> Result<Cleaned, ClusterError> {
        let docker = self.docker();
        let filters = HashMap::from([("label".to_string(), vec![RUN_LABEL.to_string()])]);
        let containers = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|cause| DockerError::List {
                what: "containers",
                cause,
            })?;
        let networks = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|cause| DockerError::List {
                what: "networks",
                cause,
            })?;

        let mut cleaned = Cleaned::default();
        let mut judged: HashMap<String, bool> = HashMap::new();
        let mut goes = |labels: Option<&HashMap<String, String>>, cleaned: &mut Cleaned| {
            let run = labels.and_then(|l| l.get(RUN_LABEL)).cloned()?;
            let owner = labels.and_then(|l| l.get(OWNER_LABEL)).map(String::as_str);
            let remove = *judged.entry(run.clone()).or_insert_with(|| {
                match verdict(scope, &run, owner, Owner::liveness) {
                    Ok(()) => true,
                    Err(why) => {
                        if !matches!(scope, Scope::Runs(_)) {
                            cleaned.kept.insert(run.clone(), why);
                        }
                        false
                    }
                }
            });
            remove.then_some(run)
        };

        let mut doomed_containers = Vec::new();
        for c in containers {
            if goes(c.labels.as_ref(), &mut cleaned).is_some() {
                if let Some(id) = c.id {
                    let name = c
                        .names
                        .and_then(|n| n.first().cloned())
                        .unwrap_or_else(|| id.clone());
                    doomed_containers.push((id, name.trim_start_matches('/').to_string()));
                }
            }
        }
        let doomed_networks: Vec<String> = networks
            .into_iter()
            .filter(|n| goes(n.labels.as_ref(), &mut cleaned).is_some())
            .filter_map(|n| n.name)
            .collect();

        for (id, name) in doomed_containers {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match docker.remove_container(&id, Some(options)).await {
                Ok(()) => {}
                // Removed meanwhile (e.g. by the run itself): nothing left to do.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(cause) => {
                    return Err(DockerError::on(ContainerAction::Remove, &name)(cause).into())
                }
            }
            cleaned.removed.push(format!("container {name}"));
        }
        for name in doomed_networks {
            match docker.remove_network(&name).await {
                Ok(()) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(cause) => {
                    return Err(DockerError::RemoveNetwork {
                        network: name.clone(),
                        cause,
                    }
                    .into())
                }
            }
            cleaned.removed.push(format!("network {name}"));
        }
        Ok(cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_whose_owner_is_gone_go_by_default() {
        let owner = Owner::current().to_string();
        let gone = |_: &Owner| Liveness::Gone;
        let alive = |_: &Owner| Liveness::Alive;
        let elsewhere = |_: &Owner| Liveness::Unknown;
        let orphaned = Scope::Orphaned;
        assert_eq!(verdict(&orphaned, "r1", Some(&owner), gone), Ok(()));
        assert_eq!(
            verdict(&orphaned, "r1", Some(&owner), alive),
            Err(Kept::OwnerRunning(std::process::id()))
        );
        assert_eq!(
            verdict(&orphaned, "r1", Some(&owner), elsewhere),
            Err(Kept::OwnerElsewhere)
        );
        assert_eq!(verdict(&orphaned, "r1", None, gone), Err(Kept::NoOwner));
        assert_eq!(
            verdict(&orphaned, "r1", Some("junk"), gone),
            Err(Kept::NoOwner)
        );
        // --all and --run override the owner.
        assert_eq!(verdict(&Scope::All, "r1", Some(&owner), alive), Ok(()));
        let runs = Scope::Runs(vec!["r1".into()]);
        assert_eq!(verdict(&runs, "r1", Some(&owner), alive), Ok(()));
        assert!(verdict(&runs, "r2", Some(&owner), gone).is_err());
    }
}
