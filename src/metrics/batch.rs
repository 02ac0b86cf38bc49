//! Request counters added up inside the worker and handed to the host on the root's tick: one
//! host call per counter that moved, per tick, rather than one per counter per request. Envoy's
//! view of these counters lags by up to one tick (100 ms); counts of the last tick are lost when
//! Envoy drops the VM (a configuration change).

use std::cell::RefCell;

use super::define;
use crate::host::{Host, MetricKind};

/// One counter of a [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

/// Counters defined with the host, with the increments not yet handed over.
#[derive(Debug, Default)]
pub struct Batch {
    /// The host's id of each slot.
    ids: Vec<u32>,
    pending: RefCell<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Per slot, the increments since the last flush.
    counts: Vec<u64>,
    /// The slots whose count is above 0, each once: a flush touches only these.
    moved: Vec<usize>,
}

impl Batch {
    /// Defines the counter `name`; `None` (never counted) when the host refuses it.
    pub fn counter(&mut self, host: &impl Host, name: &str) -> Option<Slot> {
        let id = define(host, MetricKind::Counter, name)?;
        self.ids.push(id);
        self.pending.get_mut().counts.push(0);
        Some(Slot(self.ids.len() - 1))
    }

    /// Adds 1 to a counter; no host call, no allocation once the first ticks have passed.
    pub fn bump(&self, slot: Option<Slot>) {
        let (Some(Slot(index)), Ok(mut pending)) = (slot, self.pending.try_borrow_mut()) else {
            return;
        };
        let Pending { counts, moved } = &mut *pending;
        if let Some(count) = counts.get_mut(index) {
            if *count == 0 {
                moved.push(index);
            }
            *count += 1;
        }
    }

    /// Hands every pending increment to the host.
    pub fn flush(&self, host: &impl Host) {
        let Ok(mut pending) = self.pending.try_borrow_mut() else {
            return;
        };
        let Pending { counts, moved } = &mut *pending;
        for index in moved.drain(..) {
            let count = counts.get_mut(index).map_or(0, std::mem::take);
            let (Some(&id), Ok(offset)) = (self.ids.get(index), i64::try_from(count)) else {
                continue;
            };
            // A failed increment loses these counts; never worth more than a log line.
            if let Err(status) = host.increment_metric(id, offset) {
                log::debug!("tenantgate: cannot add to a counter: {status}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::fake_host::{FakeHost, MemStore};

    #[test]
    fn increments_reach_the_host_on_flush_only() {
        let host = FakeHost::new(0, Rc::new(MemStore::default()), 1);
        let mut batch = Batch::default();
        let a = batch.counter(&host, "a");
        let b = batch.counter(&host, "b");
        let _unused = batch.counter(&host, "c");
        host.take_host_calls();
        for _ in 0..5 {
            batch.bump(a);
        }
        batch.bump(b);
        batch.bump(None);
        assert!(host.take_host_calls().is_empty(), "bumps make no host call");
        assert_eq!(host.stat("a"), 0);
        batch.flush(&host);
        assert_eq!((host.stat("a"), host.stat("b"), host.stat("c")), (5, 1, 0));
        let calls = host.take_host_calls();
        assert_eq!(calls.get("increment_metric"), Some(&2), "{calls:?}");
        batch.flush(&host);
        assert!(host.take_host_calls().is_empty(), "nothing moved since");
        batch.bump(a);
        batch.flush(&host);
        assert_eq!(host.stat("a"), 6);
    }
}
