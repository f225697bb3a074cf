//! The docker backend: broker containers on a labelled user-defined network, controlled through
//! the Docker Engine API (bollard).

pub mod apache_kafka;
pub mod spec;
