//! The report's last picture of the session: brokers, the partitions of user topics, consumer
//! groups, the session's clients and Kafka's operator metrics, all from the final
//! [`ViewState`] — the same document the live page reads.

use std::fmt::Write;

use super::escape;
use super::svg::seconds;
use super::tables::list;
use crate::view::state::ViewState;

/// Brokers, partitions of user topics, groups, clients and Kafka's metrics as the session
/// ended.
pub(super) fn write(out: &mut String, last: &ViewState) {
    let _ = write!(
        out,
        "<section id=\"final\"><h2>Final state at {}</h2><h3>Brokers</h3>\
         <table><tr><th>broker</th><th>address</th><th>process</th><th>in the cluster</th></tr>",
        seconds(last.now_ms)
    );
    for b in &last.cluster.brokers {
        let controller = if last.cluster.controller == Some(b.id) {
            " (controller)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td>{}{controller}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            b.id,
            escape(&b.addr),
            b.state,
            if b.fenced {
                "<span class=\"bad\">fenced</span>"
            } else {
                "yes"
            }
        );
    }
    out.push_str("</table><h3>Partitions</h3><table><tr><th>partition</th><th>leader</th><th>epoch</th><th>replicas</th><th>ISR</th><th></th></tr>");
    let mut internal = 0;
    for t in &last.cluster.topics {
        if t.name.starts_with("__") {
            internal += t.partitions.len();
            continue;
        }
        for p in &t.partitions {
            let ids =
                |v: &[crate::cluster::BrokerId]| list(&v.iter().map(|b| b.0).collect::<Vec<_>>());
            let note = if p.leader.is_none() {
                "<span class=\"bad\">offline</span>"
            } else if p.under_replicated() {
                "<span class=\"bad\">under-replicated</span>"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<tr><td>{}-{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{note}</td></tr>",
                escape(&t.name),
                p.partition,
                p.leader.map_or_else(|| "none".to_string(), |b| b.to_string()),
                p.leader_epoch.map_or_else(|| "?".to_string(), |e| e.to_string()),
                ids(&p.replicas),
                ids(&p.isr),
            );
        }
    }
    out.push_str("</table>");
    if internal > 0 {
        let _ = write!(
            out,
            "<p class=\"kind\">{internal} partitions of Kafka's internal topics are left out.</p>"
        );
    }
    groups_and_clients(out, last);
    metrics(out, last);
    for sentence in &last.unseen {
        let _ = write!(
            out,
            "<p class=\"kind\">Not visible here: {}</p>",
            escape(sentence)
        );
    }
    out.push_str("</section>");
}

fn groups_and_clients(out: &mut String, last: &ViewState) {
    if !last.groups.groups.is_empty() {
        out.push_str("<h3>Consumer groups</h3><table><tr><th>group</th><th>state</th><th>assignor</th><th>generation</th><th>members: partitions</th><th class=\"num\">lag</th></tr>");
        for g in &last.groups.groups {
            let members: Vec<String> = g
                .members
                .iter()
                .map(|m| {
                    let owned: Vec<String> = m
                        .partitions
                        .iter()
                        .map(|o| format!("{}-{}", o.topic, o.partition))
                        .collect();
                    escape(&format!("{}: {}", m.client_id, list(&owned)))
                })
                .collect();
            let lag: i64 = g.offsets.iter().filter_map(|o| o.lag).sum();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{lag}</td></tr>",
                escape(&g.name),
                escape(&g.state),
                escape(&g.protocol),
                g.generation.map_or_else(|| "?".to_string(), |n| n.to_string()),
                if members.is_empty() { "none".to_string() } else { members.join("<br>") },
            );
        }
        out.push_str("</table>");
    }
    let clients = &last.clients;
    if !clients.producers.is_empty() {
        out.push_str("<h3>Producers</h3><table><tr><th>producer</th><th>acks</th><th class=\"num\">sent</th><th class=\"num\">acknowledged</th><th class=\"num\">failed</th><th>last error</th></tr>");
        for p in &clients.producers {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&p.name),
                escape(&p.acks),
                p.sent,
                p.acknowledged,
                p.failed,
                escape(p.last_error.as_deref().unwrap_or("none"))
            );
        }
        out.push_str("</table>");
    }
    if !clients.consumers.is_empty() {
        out.push_str("<h3>Consumers</h3><table><tr><th>consumer</th><th>topic</th><th>state</th><th>assigned</th><th class=\"num\">received</th></tr>");
        for c in &clients.consumers {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                escape(&c.name),
                escape(&c.topic),
                escape(&c.state),
                list(&c.assignment),
                c.received
            );
        }
        out.push_str("</table>");
    }
}

fn metrics(out: &mut String, last: &ViewState) {
    let m = &last.metrics;
    let opt = |v: Option<u64>| v.map_or_else(|| "not readable".to_string(), |n| n.to_string());
    out.push_str("<h3>Kafka's operator metrics</h3><table>");
    for (name, value) in [
        (
            "UnderReplicatedPartitions",
            m.under_replicated_partitions.to_string(),
        ),
        (
            "OfflinePartitionsCount",
            m.offline_partitions_count.to_string(),
        ),
        (
            "ActiveControllerCount",
            m.active_controller_count.to_string(),
        ),
        ("IsrShrinks (session)", m.isr_shrinks.to_string()),
        ("IsrExpands (session)", m.isr_expands.to_string()),
        ("LeaderElections (session)", m.leader_elections.to_string()),
        (
            "UncleanLeaderElections (session)",
            m.unclean_leader_elections.to_string(),
        ),
        ("MessagesIn", opt(m.messages_in)),
        ("FailedProduceRequests", opt(m.failed_produce_requests)),
        ("PartitionCount", m.partition_count.to_string()),
        ("LeaderCount", m.leader_count.to_string()),
    ] {
        let _ = write!(
            out,
            "<tr><th>{name}</th><td class=\"num\">{value}</td></tr>"
        );
    }
    out.push_str("</table>");
}
