//! The cluster a lesson needs, as it declares it in `fn needs()`:
//!
//! ```rhai
//! fn needs() { #{ brokers: 6, racks: ["a", "b", "c"], auto_leader_rebalance: false } }
//! ```
//!
//! (Not `fn cluster()`: a script function named `cluster` makes `cluster` inside a closure
//! mean that function instead of the cluster, so such a declaration is refused.)
//!
//! `kafka-sandbox lesson NAME` reads it before starting the cluster and starts that cluster.
//! A lesson run from the REPL (`lesson("NAME")`) runs on the cluster already there, so it is
//! refused, with the command that would work, when that cluster is known not to fit.

use rhai::Map;

use super::AuthoringError;
use crate::config::ClusterConfig;

/// What a lesson asks of its cluster; `None`/empty: whatever the cluster has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNeeds {
    /// How many brokers.
    pub brokers: Option<i32>,
    /// `broker.rack` of brokers 1, 2, … in turn (see [`ClusterConfig::racks`]).
    pub racks: Vec<String>,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: Option<bool>,
}

fn bad(what: &str) -> AuthoringError {
    AuthoringError::Script(format!(
        "fn needs(): {what}; it returns a map such as #{{brokers: 6, racks: [\"a\", \"b\", \"c\"], auto_leader_rebalance: false}}"
    ))
}

impl ClusterNeeds {
    /// Reads `fn needs()` from a lesson's source without running the lesson; a lesson
    /// without one needs nothing in particular.
    pub fn declared(source: &str) -> Result<Self, AuthoringError> {
        let engine = super::spec::engine();
        let ast = engine
            .compile(source)
            .map_err(|e| AuthoringError::Script(e.to_string()))?;
        if ast.iter_functions().any(|f| f.name == "cluster") {
            return Err(AuthoringError::Script(
                "a function named cluster hides the cluster variable inside closures; declare what the lesson needs in fn needs()".into(),
            ));
        }
        if !ast.iter_functions().any(|f| f.name == "needs") {
            return Ok(Self::default());
        }
        let map: Map = engine
            .call_fn_with_options(
                rhai::CallFnOptions::new().eval_ast(false),
                &mut rhai::Scope::new(),
                &ast,
                "needs",
                (),
            )
            .map_err(|e| AuthoringError::Script(format!("fn needs(): {e}")))?;
        let mut needs = Self::default();
        for (key, value) in map {
            match key.as_str() {
                "brokers" => {
                    let n = value
                        .as_int()
                        .ok()
                        .and_then(|n| i32::try_from(n).ok())
                        .filter(|n| (1..=32).contains(n))
                        .ok_or_else(|| bad("brokers must be a number from 1 to 32"))?;
                    needs.brokers = Some(n);
                }
                "racks" => {
                    needs.racks = value
                        .try_cast::<rhai::Array>()
                        .ok_or_else(|| bad("racks must be an array of rack names"))?
                        .into_iter()
                        .map(|r| r.into_string().map_err(|_| bad("rack names are strings")))
                        .collect::<Result<_, _>>()?;
                }
                "auto_leader_rebalance" => {
                    needs.auto_leader_rebalance = Some(
                        value
                            .as_bool()
                            .map_err(|_| bad("auto_leader_rebalance must be true or false"))?,
                    );
                }
                other => return Err(bad(&format!("'{other}' is not a setting it knows"))),
            }
        }
        Ok(needs)
    }

    /// `config` with what the lesson needs put in.
    pub fn apply(&self, config: &mut ClusterConfig) {
        if let Some(n) = self.brokers {
            config.brokers = n;
        }
        if !self.racks.is_empty() {
            config.racks = self.racks.clone();
        }
        if let Some(on) = self.auto_leader_rebalance {
            config.topic_defaults.auto_leader_rebalance = on;
        }
    }

    /// Why a cluster with `brokers` brokers, the given racks (broker id → rack) and, where
    /// known, the settings it was started with does not fit; `None` when it does.
    pub fn unmet(
        &self,
        brokers: usize,
        racks: &[(i32, Option<String>)],
        config: Option<&ClusterConfig>,
    ) -> Option<String> {
        let mut missing = Vec::new();
        if let Some(n) = self.brokers {
            if brokers != n as usize {
                missing.push(format!("{n} brokers (this cluster has {brokers})"));
            }
        }
        if !self.racks.is_empty() {
            let want = ClusterConfig {
                brokers: self.brokers.unwrap_or(brokers as i32),
                racks: self.racks.clone(),
                ..ClusterConfig::default()
            };
            let fits = racks.iter().all(|(id, rack)| *rack == want.rack_of(*id));
            if !fits || racks.is_empty() {
                missing.push(format!("brokers in racks {}", self.racks.join(", ")));
            }
        }
        if let (Some(on), Some(config)) = (self.auto_leader_rebalance, config) {
            if config.topic_defaults.auto_leader_rebalance != on {
                missing.push(format!(
                    "auto.leader.rebalance.enable={on} (--no-auto-leader-rebalance)"
                ));
            }
        }
        (!missing.is_empty()).then(|| missing.join(", "))
    }
}

/// What a script does to brokers that only a controlled cluster allows.
const CONTROL_CALLS: [&str; 8] = [
    "stop", "kill", "start", "restart", "pause", "resume", "isolate", "heal",
];

/// Whether a lesson stops, kills, starts, pauses, resumes, isolates or heals brokers (calls
/// `cluster.kill(…)` and the like outside a comment). A cluster the sandbox can only watch
/// (attach without Docker control) cannot run such a lesson, and is better refused at the
/// start than at the first fault. Read from the source, so no lesson has to declare it.
pub fn controls_brokers(source: &str) -> bool {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .any(|code| {
            code.match_indices("cluster.").any(|(at, dot)| {
                let rest = &code[at + dot.len()..];
                CONTROL_CALLS.iter().any(|call| {
                    rest.strip_prefix(call)
                        .is_some_and(|after| after.trim_start().starts_with('('))
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_control_is_read_from_the_calls_a_lesson_makes() {
        assert!(controls_brokers("let x = 1;\ncluster.stop(2);"));
        assert!(controls_brokers("if a { cluster.isolate (leader) }"));
        assert!(!controls_brokers(
            "// cluster.kill(2) would be too much\ncluster.status();"
        ));
        assert!(!controls_brokers(
            "cluster.pause_controller(); cluster.brokers()"
        ));
        assert!(!controls_brokers("let started = cluster.bootstrap();"));
        for lesson in ["broker-failover", "network-partition"] {
            let source = crate::lesson::source(lesson).unwrap();
            assert!(controls_brokers(&source), "{lesson}");
        }
        assert!(!controls_brokers(
            &crate::lesson::source("pub-sub").unwrap()
        ));
    }

    #[test]
    fn a_declaration_is_read_and_applied_without_running_the_lesson() {
        let needs = ClusterNeeds::declared(
            r#"fn needs() { #{brokers: 6, racks: ["a", "b", "c"], auto_leader_rebalance: false} }
               this_would_fail_if_run();"#,
        )
        .unwrap();
        let mut config = ClusterConfig::default();
        needs.apply(&mut config);
        assert_eq!(config.brokers, 6);
        assert_eq!(config.rack_of(4).as_deref(), Some("a"));
        assert!(!config.topic_defaults.auto_leader_rebalance);
        assert_eq!(
            ClusterNeeds::declared("let x = 1;").unwrap(),
            ClusterNeeds::default()
        );
    }

    #[test]
    fn mistakes_and_misfits_say_what_to_do() {
        let e = ClusterNeeds::declared("fn needs() { #{brokerz: 3} }").unwrap_err();
        assert!(e.to_string().contains("'brokerz' is not a setting"), "{e}");
        let e = ClusterNeeds::declared("fn cluster() { #{brokers: 3} }").unwrap_err();
        assert!(
            e.to_string()
                .contains("declare what the lesson needs in fn needs()"),
            "{e}"
        );
        let e = ClusterNeeds::declared("fn needs() { #{brokers: 99} }").unwrap_err();
        assert!(e.to_string().contains("1 to 32"), "{e}");

        let needs = ClusterNeeds {
            brokers: Some(4),
            racks: vec!["a".into(), "b".into()],
            auto_leader_rebalance: Some(false),
        };
        let racked: Vec<(i32, Option<String>)> = (1..=4)
            .map(|id| (id, Some(if id % 2 == 1 { "a" } else { "b" }.to_string())))
            .collect();
        let mut config = ClusterConfig::default();
        needs.apply(&mut config);
        assert_eq!(needs.unmet(4, &racked, Some(&config)), None);
        let plain: Vec<(i32, Option<String>)> = (1..=3).map(|id| (id, None)).collect();
        let why = needs
            .unmet(3, &plain, Some(&ClusterConfig::default()))
            .unwrap();
        assert!(why.contains("4 brokers (this cluster has 3)"), "{why}");
        assert!(why.contains("racks a, b"), "{why}");
        assert!(why.contains("auto.leader.rebalance.enable=false"), "{why}");
    }
}
