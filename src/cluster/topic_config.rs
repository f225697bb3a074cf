//! What AlterConfigs and IncrementalAlterConfigs do to a topic's configs. The controller
//! applies a change to the configs in its image (and validates the result like CreateTopics);
//! the broker that forwarded the request uses the same rule to know when its own metadata
//! shows the change, so its answer never races the client's next DescribeConfigs.

use std::collections::BTreeMap;

use kafka_protocol::messages::{alter_configs_request, incremental_alter_configs_request};

/// One change to one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Set the value.
    Set(String, String),
    /// Back to the default.
    Delete(String),
    /// Add an item to a list config (`cleanup.policy`).
    Append(String, String),
    /// Remove an item from a list config.
    Subtract(String, String),
}

/// Topic configs whose values are comma-separated lists, with Kafka's default, the list an
/// APPEND to an unset config starts from.
const LIST_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("leader.replication.throttled.replicas", ""),
    ("follower.replication.throttled.replicas", ""),
];

/// A whole AlterConfigs resource: the topic's configs become exactly these (a config left
/// out goes back to its default, as in Kafka).
pub(crate) fn from_alter(resource: &alter_configs_request::AlterConfigsResource) -> Vec<Change> {
    resource
        .configs
        .iter()
        .map(|c| match &c.value {
            Some(v) => Change::Set(c.name.to_string(), v.to_string()),
            None => Change::Delete(c.name.to_string()),
        })
        .collect()
}

/// An IncrementalAlterConfigs resource: operations 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
pub(crate) fn from_incremental(
    resource: &incremental_alter_configs_request::AlterConfigsResource,
) -> Result<Vec<Change>, String> {
    resource
        .configs
        .iter()
        .map(|c| {
            let name = c.name.to_string();
            let value = || {
                c.value
                    .as_ref()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("config '{name}' needs a value for this operation"))
            };
            Ok(match c.config_operation {
                0 => Change::Set(name.clone(), value()?),
                1 => Change::Delete(name),
                2 => Change::Append(name.clone(), value()?),
                3 => Change::Subtract(name.clone(), value()?),
                other => return Err(format!("unknown config operation {other} for '{name}'")),
            })
        })
        .collect()
}

/// The configs after `changes`: on top of `current` (incremental), or replacing them.
pub(crate) fn apply(
    current: &BTreeMap<String, String>,
    changes: &[Change],
    replace: bool,
) -> Result<BTreeMap<String, String>, String> {
    let mut configs = if replace {
        BTreeMap::new()
    } else {
        current.clone()
    };
    for change in changes {
        match change {
            Change::Set(k, v) => {
                configs.insert(k.clone(), v.clone());
            }
            Change::Delete(k) => {
                configs.remove(k);
            }
            Change::Append(k, v) | Change::Subtract(k, v) => {
                let Some((_, default)) = LIST_CONFIGS.iter().find(|(name, _)| name == k) else {
                    return Err(format!(
                        "'{k}' is not a list config; APPEND and SUBTRACT apply only to {}",
                        LIST_CONFIGS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                let now = configs.get(k).map_or(*default, String::as_str);
                let mut items: Vec<String> = now
                    .split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(str::to_string)
                    .collect();
                let given = v.split(',').map(str::trim).filter(|i| !i.is_empty());
                if matches!(change, Change::Append(..)) {
                    for item in given {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    }
                } else {
                    let gone: Vec<&str> = given.collect();
                    items.retain(|i| !gone.contains(&i.as_str()));
                }
                configs.insert(k.clone(), items.join(","));
            }
        }
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn incremental_changes_keep_what_they_do_not_name() {
        let current = map(&[("min.insync.replicas", "2"), ("retention.ms", "1000")]);
        let got = apply(
            &current,
            &[
                Change::Set("min.insync.replicas".into(), "3".into()),
                Change::Delete("retention.ms".into()),
                Change::Append("cleanup.policy".into(), "compact".into()),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            map(&[
                ("min.insync.replicas", "3"),
                ("cleanup.policy", "delete,compact")
            ])
        );
        let got = apply(
            &got,
            &[Change::Subtract("cleanup.policy".into(), "delete".into())],
            false,
        )
        .unwrap();
        assert_eq!(got["cleanup.policy"], "compact");
    }

    #[test]
    fn a_whole_alter_replaces_and_lists_need_list_configs() {
        let current = map(&[("min.insync.replicas", "2"), ("retention.ms", "1000")]);
        let got = apply(
            &current,
            &[Change::Set("retention.ms".into(), "5".into())],
            true,
        )
        .unwrap();
        assert_eq!(got, map(&[("retention.ms", "5")]));
        let e = apply(
            &current,
            &[Change::Append("retention.ms".into(), "5".into())],
            false,
        )
        .unwrap_err();
        assert!(e.contains("not a list config"), "{e}");
    }
}
