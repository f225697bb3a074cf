//! The scripting reference, the help registry and the engine's registrations must agree.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use kafka_sandbox::script::input::Scripted;
use kafka_sandbox::script::{self, output::Output, registry, Session};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_function_is_documented_and_every_documented_one_exists() {
    let cluster = TestCluster::start(1).await;
    let handle = tokio::runtime::Handle::current();
    let view = kafka_sandbox::view::View::start(cluster.control(), std::time::Instant::now());
    let registered: BTreeSet<String> = tokio::task::spawn_blocking(move || {
        let session = Session::new(
            handle,
            view,
            Output::stdout(),
            Arc::new(AtomicBool::new(false)),
            Box::new(Scripted::new(Vec::new())),
        )
        .unwrap();
        let engine = script::engine(&session);
        engine
            .gen_fn_signatures(false)
            .into_iter()
            .map(|sig| sig.split('(').next().unwrap().trim().to_string())
            .collect()
    })
    .await
    .unwrap();
    let in_registry: BTreeSet<String> = registry::FUNCTIONS
        .iter()
        .map(|f| f.name.trim_start_matches("cluster.").to_string())
        .collect();
    assert_eq!(
        registered, in_registry,
        "engine registrations vs the help registry"
    );

    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scripting.md")).unwrap();
    let documented: BTreeSet<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("### `").and_then(|r| r.strip_suffix('`')))
        .map(str::to_string)
        .collect();
    let registry_names: BTreeSet<String> = registry::FUNCTIONS
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(
        documented, registry_names,
        "docs/scripting.md headings vs the help registry"
    );
}
