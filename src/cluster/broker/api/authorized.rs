//! Authorized operations, for clients that ask (Metadata, DescribeCluster, DescribeGroups).
//! The sandbox has no authorizer, so it answers as Kafka does under one that allows everything:
//! every operation Kafka supports on that kind of resource. The bits are Kafka's `AclOperation`
//! codes; the sets are Kafka's `AclEntry.supportedOperations`.

const READ: u32 = 3;
const WRITE: u32 = 4;
const CREATE: u32 = 5;
const DELETE: u32 = 6;
const ALTER: u32 = 7;
const DESCRIBE: u32 = 8;
const CLUSTER_ACTION: u32 = 9;
const DESCRIBE_CONFIGS: u32 = 10;
const ALTER_CONFIGS: u32 = 11;
const IDEMPOTENT_WRITE: u32 = 12;

/// What a response carries when the client did not ask (Kafka's `Integer.MIN_VALUE`).
pub(crate) const NOT_ASKED: i32 = i32::MIN;

const fn bits(ops: &[u32]) -> i32 {
    let mut out = 0i32;
    let mut i = 0;
    while i < ops.len() {
        out |= 1 << ops[i];
        i += 1;
    }
    out
}

/// Everything on a topic.
pub(crate) const TOPIC: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DESCRIBE,
    DELETE,
    ALTER,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);
/// Everything on a consumer group.
pub(crate) const GROUP: i32 = bits(&[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);
/// Everything on the cluster.
pub(crate) const CLUSTER: i32 = bits(&[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
]);

/// `set` if the client asked for it, else [`NOT_ASKED`].
pub(crate) fn when_asked(asked: bool, set: i32) -> i32 {
    if asked {
        set
    } else {
        NOT_ASKED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sets_are_kafkas_bitfields() {
        // READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
        assert_eq!(TOPIC, 0b1101_1111_1000);
        assert_eq!(
            GROUP,
            (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
        );
        assert_eq!(when_asked(false, CLUSTER), i32::MIN);
        assert_eq!(CLUSTER & (1 << 9), 1 << 9, "CLUSTER_ACTION");
    }
}
