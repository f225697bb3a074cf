//! Replica placement the way Kafka's rack-unaware assignment does it: the first replica of each
//! partition walks round-robin over the brokers from a start index, and the followers sit at a
//! shift from it that grows by one every time the walk wraps, so follower order varies too.
//! With brokers 1,2,3, start index 2 and shift 1 an 8-partition RF-3 topic comes out as the
//! tutorial's `3,2,1 / 1,3,2 / 2,1,3 / 3,1,2 / …`.
//!
//! When brokers have racks (`broker.rack`), [`assign_replicas_across_racks`] places them the
//! way Kafka's rack-aware assignment does: the brokers are listed one rack at a time in turn
//! (a1, b1, c1, a2, b2, …) and the same walk runs over that list, except that a follower is
//! skipped while its rack already holds a replica of the partition and some rack holds none.
//! So a partition has replicas in min(RF, racks) racks, and losing one rack leaves every
//! partition with RF ≥ 2 a replica.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// Why replicas could not be placed.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum AssignmentError {
    /// More replicas asked for than brokers available.
    #[error("replication factor {replication} is larger than the {available} available brokers")]
    ReplicationFactor {
        /// Requested replication factor.
        replication: i32,
        /// Live brokers.
        available: usize,
    },
    /// Zero or negative partition count or replication factor.
    #[error("partitions and replication factor must be at least 1")]
    NonPositive,
}

/// Whether `partitions` × `replication` replicas fit on `n` brokers at all.
fn placeable(n: usize, partitions: i32, replication: i32) -> Result<(), AssignmentError> {
    if partitions < 1 || replication < 1 {
        return Err(AssignmentError::NonPositive);
    }
    if replication as usize > n {
        return Err(AssignmentError::ReplicationFactor {
            replication,
            available: n,
        });
    }
    Ok(())
}

/// Places `partitions` × `replication` replicas on `brokers` (sorted ids).
/// `start_index` and `shift` are Kafka's random seeds (any values are valid).
pub(crate) fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication: i32,
    start_index: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    let n = brokers.len();
    placeable(n, partitions, replication)?;
    let start = start_index % n;
    let mut next_shift = if n > 1 { shift % (n - 1) } else { 0 };
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            next_shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..(replication as usize - 1) {
            let offset = 1 + (next_shift + j) % (n - 1);
            replicas.push(brokers[(first + offset) % n]);
        }
        out.push(replicas);
    }
    Ok(out)
}

/// Places replicas like [`assign_replicas`], over `brokers` (id and rack, sorted by id), so
/// that each partition's replicas sit in as many different racks as possible. Brokers
/// without a rack count as one more rack of their own, as in KRaft.
pub(crate) fn assign_replicas_across_racks(
    brokers: &[(i32, Option<String>)],
    partitions: i32,
    replication: i32,
    start_index: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    let n = brokers.len();
    placeable(n, partitions, replication)?;
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.as_deref()).or_default().push(*id);
    }
    let racks = by_rack.len();
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let arranged: Vec<(i32, Option<&str>)> = (0..deepest)
        .flat_map(|i| {
            by_rack
                .iter()
                .filter_map(move |(rack, ids)| ids.get(i).map(|id| (*id, *rack)))
        })
        .collect();
    let start = start_index % n;
    let mut next_shift = shift % n;
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            next_shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![arranged[first].0];
        let mut racks_used = BTreeSet::from([arranged[first].1]);
        let mut k = 0;
        while replicas.len() < replication as usize {
            let (id, rack) = arranged[(first + 1 + (next_shift * racks + k) % (n - 1)) % n];
            k += 1;
            let rack_ok = !racks_used.contains(&rack) || racks_used.len() == racks;
            // After a full turn every rack is either used or has no free broker left.
            if !replicas.contains(&id) && (rack_ok || k > n) {
                replicas.push(id);
                racks_used.insert(rack);
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racked(spec: &[(i32, &str)]) -> Vec<(i32, Option<String>)> {
        spec.iter()
            .map(|(id, r)| (*id, Some(r.to_string())))
            .collect()
    }

    #[test]
    fn racks_spread_every_partitions_replicas() {
        let brokers = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]);
        let rack = |id: i32| brokers.iter().find(|(b, _)| *b == id).unwrap().1.clone();
        for seed in 0..12 {
            for rf in 1..=3 {
                let got = assign_replicas_across_racks(&brokers, 12, rf, seed, seed * 5).unwrap();
                for r in &got {
                    let racks: BTreeSet<_> = r.iter().map(|b| rack(*b)).collect();
                    assert_eq!(racks.len(), rf as usize, "seed {seed}: {r:?}");
                    let ids: BTreeSet<_> = r.iter().collect();
                    assert_eq!(ids.len(), r.len());
                }
                for b in 1..=6 {
                    let led = got.iter().filter(|r| r[0] == b).count();
                    assert_eq!(led, 2, "leaders spread evenly, seed {seed}");
                }
            }
        }
    }

    #[test]
    fn more_replicas_than_racks_reuse_racks_on_distinct_brokers() {
        let brokers = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b")]);
        for seed in 0..8 {
            for r in assign_replicas_across_racks(&brokers, 8, 4, seed, seed).unwrap() {
                let ids: BTreeSet<_> = r.iter().collect();
                assert_eq!(ids.len(), 4, "{r:?}");
            }
            for r in assign_replicas_across_racks(&brokers, 8, 3, seed, seed).unwrap() {
                let in_a = r.iter().filter(|b| **b <= 2).count();
                assert!((1..=2).contains(&in_a), "both racks hold a replica: {r:?}");
            }
        }
    }

    #[test]
    fn brokers_without_a_rack_form_a_rack_of_their_own() {
        let brokers = vec![
            (1, Some("a".to_string())),
            (2, Some("a".to_string())),
            (3, None),
        ];
        for r in assign_replicas_across_racks(&brokers, 6, 2, 1, 1).unwrap() {
            assert!(r.contains(&3), "one replica off rack a: {r:?}");
        }
    }

    #[test]
    fn reproduces_the_tutorial_layout() {
        let got = assign_replicas(&[1, 2, 3], 8, 3, 2, 1).unwrap();
        let want = vec![
            vec![3, 2, 1],
            vec![1, 3, 2],
            vec![2, 1, 3],
            vec![3, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 1],
            vec![3, 2, 1],
            vec![1, 3, 2],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn spreads_leaders_evenly_for_any_seed() {
        for seed in 0..6 {
            let got = assign_replicas(&[1, 2, 3], 8, 3, seed, seed * 7).unwrap();
            for broker in 1..=3 {
                let led = got.iter().filter(|r| r[0] == broker).count();
                assert!((2..=3).contains(&led), "broker {broker} leads {led}");
            }
            for r in &got {
                let mut sorted = r.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), 3, "replicas must be distinct: {r:?}");
            }
        }
    }

    #[test]
    fn refuses_impossible_requests() {
        assert!(matches!(
            assign_replicas(&[1, 2], 3, 3, 0, 0),
            Err(AssignmentError::ReplicationFactor { .. })
        ));
        assert_eq!(
            assign_replicas(&[1], 0, 1, 0, 0),
            Err(AssignmentError::NonPositive)
        );
        assert_eq!(
            assign_replicas(&[5], 2, 1, 9, 9).unwrap(),
            vec![vec![5], vec![5]]
        );
    }
}
