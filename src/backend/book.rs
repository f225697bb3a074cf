//! The bookkeeping every broker driver keeps: for each broker id, where it listens, the
//! running node (an in-process handle, a child process, a container) if it runs, and whether it
//! is paused or isolated. The rules on it — which broker ids exist, what state a broker is in,
//! which operations its state allows — are written here once, for every backend.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::snapshot::BrokerState;
use super::ClusterError;

/// One broker as a driver sees it.
#[derive(Debug)]
pub(crate) struct Slot<N> {
    /// `host:port` it listens on (and advertises).
    pub addr: String,
    /// The running node, if it runs.
    pub node: Option<N>,
    /// Frozen.
    pub paused: bool,
    /// Cut off from its peers.
    pub isolated: bool,
}

impl<N> Slot<N> {
    /// A running broker at `addr`.
    pub fn running(addr: String, node: N) -> Self {
        Self {
            addr,
            node: Some(node),
            paused: false,
            isolated: false,
        }
    }

    /// Down, paused (even if isolated too), isolated, or up.
    pub fn state(&self) -> BrokerState {
        match (&self.node, self.paused, self.isolated) {
            (None, _, _) => BrokerState::Down,
            (Some(_), true, _) => BrokerState::Paused,
            (Some(_), false, true) => BrokerState::Isolated,
            (Some(_), false, false) => BrokerState::Up,
        }
    }

    /// The node is gone: nothing left to pause or isolate.
    pub(crate) fn mark_down(&mut self) -> Option<N> {
        self.paused = false;
        self.isolated = false;
        self.node.take()
    }
}

/// Every broker a driver runs, by id.
#[derive(Debug)]
pub(crate) struct BrokerBook<N> {
    slots: Mutex<BTreeMap<i32, Slot<N>>>,
}

impl<N> Default for BrokerBook<N> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<N> BrokerBook<N> {
    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Slot<N>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or replaces) broker `id`.
    pub fn insert(&self, id: i32, slot: Slot<N>) {
        self.slots().insert(id, slot);
    }

    /// Broker ids, ascending.
    pub fn ids(&self) -> Vec<i32> {
        self.slots().keys().copied().collect()
    }

    /// Every broker's address, in id order, comma-separated: the bootstrap servers.
    pub fn bootstrap(&self) -> String {
        self.slots()
            .values()
            .map(|s| s.addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `f` on broker `id`'s slot; an unknown id is [`ClusterError::UnknownBroker`].
    pub fn with<T>(
        &self,
        id: i32,
        f: impl FnOnce(&mut Slot<N>) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        let mut slots = self.slots();
        let known: Vec<i32> = slots.keys().copied().collect();
        match slots.get_mut(&id) {
            Some(slot) => f(slot),
            None => Err(ClusterError::UnknownBroker {
                id: id.into(),
                known,
            }),
        }
    }

    /// The state of broker `id`, if it exists.
    pub fn state(&self, id: i32) -> Option<BrokerState> {
        self.slots().get(&id).map(Slot::state)
    }

    /// Runs `f` on the running node of broker `id`; a stopped broker is
    /// [`ClusterError::NotRunning`].
    pub fn running<T>(&self, id: i32, f: impl FnOnce(&N) -> T) -> Result<T, ClusterError> {
        self.with(id, |s| {
            s.node.as_ref().map(f).ok_or(ClusterError::NotRunning(id))
        })
    }

    /// Checks broker `id` may be shut down cleanly: it runs and is not frozen.
    pub(crate) fn stoppable(&self, id: i32) -> Result<(), ClusterError> {
        self.with(id, |s| match s.state() {
            BrokerState::Down => Err(ClusterError::NotRunning(id)),
            BrokerState::Paused => Err(ClusterError::Paused(id)),
            _ => Ok(()),
        })
    }

    /// Checks broker `id` may be started: it is down. Returns its address.
    pub(crate) fn startable(&self, id: i32) -> Result<String, ClusterError> {
        self.with(id, |s| match s.node {
            Some(_) => Err(ClusterError::AlreadyRunning(id)),
            None => Ok(s.addr.clone()),
        })
    }

    /// Records that broker `id` runs `node` again.
    pub fn started(&self, id: i32, node: N) -> Result<(), ClusterError> {
        self.with(id, |s| {
            s.node = Some(node);
            Ok(())
        })
    }

    /// Records that broker `id` is down; returns its node, if it still held one.
    pub fn stopped(&self, id: i32) -> Option<N> {
        self.with(id, |s| Ok(s.mark_down())).ok().flatten()
    }

    /// Sets broker `id`'s pause or isolation flag.
    pub(crate) fn flag(&self, id: i32, paused: Option<bool>, isolated: Option<bool>) {
        let _ = self.with(id, |s| {
            if let Some(p) = paused {
                s.paused = p;
            }
            if let Some(i) = isolated {
                s.isolated = i;
            }
            Ok(())
        });
    }

    /// Takes every running node out of the book (for shutdown).
    pub(crate) fn take_all(&self) -> Vec<N> {
        self.slots()
            .values_mut()
            .filter_map(Slot::mark_down)
            .collect()
    }

    /// Runs `f` over every slot, in id order. `f` runs under the book's lock: it must not call
    /// back into the book.
    pub fn each<T>(&self, f: impl FnMut((&i32, &Slot<N>)) -> T) -> Vec<T> {
        self.slots().iter().map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_state_decides_what_may_be_done_to_it() {
        let book: BrokerBook<&str> = BrokerBook::default();
        book.insert(1, Slot::running("h:1".into(), "node"));
        assert_eq!(book.state(1), Some(BrokerState::Up));
        book.flag(1, None, Some(true));
        assert_eq!(book.state(1), Some(BrokerState::Isolated));
        book.flag(1, Some(true), None);
        assert_eq!(
            book.state(1),
            Some(BrokerState::Paused),
            "paused shows over isolated"
        );
        assert!(matches!(book.stoppable(1), Err(ClusterError::Paused(1))));
        assert!(matches!(
            book.startable(1),
            Err(ClusterError::AlreadyRunning(1))
        ));
        assert_eq!(book.stopped(1), Some("node"));
        assert_eq!(book.state(1), Some(BrokerState::Down));
        assert!(matches!(
            book.running(1, |_| ()),
            Err(ClusterError::NotRunning(1))
        ));
        assert_eq!(book.startable(1).unwrap(), "h:1");
        assert_eq!(
            book.with(7, |_| Ok(())).unwrap_err().to_string(),
            "broker 7 does not exist; brokers are 1"
        );
    }
}
