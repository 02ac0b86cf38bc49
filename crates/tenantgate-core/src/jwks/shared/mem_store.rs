//! An in-memory [`SharedStore`] with the host's semantics, for tests of the election here and of
//! the glue's worker (feature `test-support`). Blind writes are checked against the election's
//! rule that only an empty entry or the empty body placeholder is ever written without CAS.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::codec::{decode_body, Entry};
use super::{SharedStore, StoreError};

/// The host's shared data: one CAS counter for every write, a CAS mismatch only on an existing
/// key (an absent key takes any write), and an optional outage.
#[derive(Default)]
pub struct MemStore {
    /// Key to value and its CAS.
    pub map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    last_cas: Cell<u32>,
    /// While set, every call fails as the host's does when shared data is unavailable.
    pub down: Cell<bool>,
    /// Runs (once) right before the next CAS write to this key: another worker acting between a
    /// worker's read and its write.
    pub interleave: RefCell<Option<(String, OtherWorker)>>,
}

pub type OtherWorker = Box<dyn FnOnce(&MemStore)>;

impl SharedStore for MemStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        if self.down.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(self.map.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        if self.down.get() {
            return Err(StoreError::Unavailable);
        }
        if cas.is_some() {
            let due = matches!(&*self.interleave.borrow(), Some((k, _)) if k == key);
            let other = if due {
                self.interleave.borrow_mut().take()
            } else {
                None
            };
            if let Some((_, other)) = other {
                other(self);
            }
        } else {
            // A blind write only ever creates an empty entry or the empty body placeholder.
            let empty_entry = Entry::decode(value) == Some(Entry::default());
            let placeholder = decode_body(value).is_some_and(|(tag, body)| {
                tag.generation == 0 && tag.holder == 0 && body.is_empty()
            });
            assert!(
                empty_entry || placeholder,
                "blind write of a lease or a publication"
            );
        }
        let mut map = self.map.borrow_mut();
        if let (Some(cas), Some((_, current))) = (cas, map.get(key)) {
            if cas != *current {
                return Err(StoreError::CasMismatch);
            }
        }
        let next = self.last_cas.get().wrapping_add(1).max(1);
        self.last_cas.set(next);
        map.insert(key.to_owned(), (value.to_vec(), next));
        Ok(())
    }
}
