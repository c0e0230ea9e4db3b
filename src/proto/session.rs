//! Session expiry on logical time (ms), bucketed by tick as ZooKeeper's ExpiryQueue: a session's
//! deadline is rounded up to the next multiple of the tick, so all sessions of a bucket expire
//! together at one tick.

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug)]
pub struct ExpiryQueue {
    tick: u64,
    deadline: HashMap<i64, u64>,
    timeout: HashMap<i64, u64>,
    buckets: BTreeMap<u64, HashSet<i64>>,
}

impl ExpiryQueue {
    pub fn new(tick_ms: u64) -> Self {
        ExpiryQueue {
            tick: tick_ms.max(1),
            deadline: HashMap::new(),
            timeout: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    fn round_up(&self, t: u64) -> u64 {
        t.div_ceil(self.tick) * self.tick
    }

    /// Track a session (or change its timeout) and touch it.
    pub fn add(&mut self, id: i64, timeout_ms: u64, now: u64) {
        self.timeout.insert(id, timeout_ms);
        self.touch(id, now);
    }

    /// Move a session's deadline to now + timeout. Unknown sessions are ignored.
    pub fn touch(&mut self, id: i64, now: u64) -> bool {
        let Some(&to) = self.timeout.get(&id) else {
            return false;
        };
        let d = self.round_up(now + to);
        if let Some(old) = self.deadline.insert(id, d) {
            if old == d {
                return true;
            }
            if let Some(b) = self.buckets.get_mut(&old) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&old);
                }
            }
        }
        self.buckets.entry(d).or_default().insert(id);
        true
    }

    pub fn remove(&mut self, id: i64) {
        self.timeout.remove(&id);
        if let Some(d) = self.deadline.remove(&id) {
            if let Some(b) = self.buckets.get_mut(&d) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&d);
                }
            }
        }
    }

    pub fn contains(&self, id: i64) -> bool {
        self.timeout.contains_key(&id)
    }

    /// Sessions whose deadline is at or before `now`; they stay tracked until removed.
    pub fn expired(&mut self, now: u64) -> Vec<i64> {
        let mut out = Vec::new();
        let due: Vec<u64> = self.buckets.range(..=now).map(|(k, _)| *k).collect();
        for k in due {
            if let Some(b) = self.buckets.remove(&k) {
                let mut ids: Vec<i64> = b.into_iter().collect();
                ids.sort();
                for id in &ids {
                    self.deadline.remove(id);
                }
                out.extend(ids);
            }
        }
        out
    }

    /// (deadline, sessions) buckets, for `dump`.
    pub fn buckets(&self) -> Vec<(u64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(d, s)| {
                let mut v: Vec<i64> = s.iter().copied().collect();
                v.sort();
                (*d, v)
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.timeout.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timeout.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_tick() {
        let mut q = ExpiryQueue::new(100);
        q.add(1, 250, 10);
        assert!(q.expired(299).is_empty());
        assert_eq!(q.expired(300), vec![1]);
        assert!(q.expired(1000).is_empty());
    }

    #[test]
    fn touch_extends_and_remove_forgets() {
        let mut q = ExpiryQueue::new(100);
        q.add(1, 200, 0);
        q.add(2, 200, 0);
        assert!(q.touch(1, 150));
        assert_eq!(q.expired(200), vec![2]);
        assert!(q.expired(399).is_empty());
        assert_eq!(q.expired(400), vec![1]);
        q.add(3, 100, 0);
        q.remove(3);
        assert!(q.expired(10_000).is_empty());
        assert!(!q.touch(99, 0));
    }

    #[test]
    fn many_sessions_same_bucket() {
        let mut q = ExpiryQueue::new(50);
        for id in 0..100 {
            q.add(id, 120, id as u64 % 7);
        }
        let mut got = q.expired(150);
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }
}
