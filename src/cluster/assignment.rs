//! Replica placement the way Kafka's rack-unaware assignment does it: the first replica of each
//! partition walks round-robin over the brokers from a start index, and the followers sit at a
//! shift from it that grows by one every time the walk wraps, so follower order varies too.
//! With brokers 1,2,3, start index 2 and shift 1 an 8-partition RF-3 topic comes out as the
//! tutorial's `3,2,1 / 1,3,2 / 2,1,3 / 3,1,2 / …`.

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

/// Places `partitions` × `replication` replicas on `brokers` (sorted ids).
/// `start_index` and `shift` are Kafka's random seeds (any values are valid).
pub(crate) fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication: i32,
    start_index: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    if partitions < 1 || replication < 1 {
        return Err(AssignmentError::NonPositive);
    }
    let n = brokers.len();
    if replication as usize > n {
        return Err(AssignmentError::ReplicationFactor {
            replication,
            available: n,
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
