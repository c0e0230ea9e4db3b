//! The watches this shell sets: [`WatchKind`], the watch table, the watch tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;
use zookeeper_client::{EventType, OneshotWatcher, PersistentWatcher};

use super::Shell;
use crate::cli::parse::WatcherType;

/// Kinds of watches this shell sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Data,
    Child,
    Persistent,
    PersistentRecursive,
}

impl WatchKind {
    /// Whether `removewatches` with this type removes a watch of `self`'s kind.
    pub fn removed_by(self, t: WatcherType) -> bool {
        match t {
            WatcherType::Any => true,
            WatcherType::Data => self == WatchKind::Data,
            WatcherType::Children => self == WatchKind::Child,
        }
    }
}

pub(super) struct WatchEntry {
    id: u64,
    pub(super) cancel: oneshot::Sender<()>,
}

/// The watches set through this shell, one per (path, kind) like zkCli's single default
/// watcher. Dropping an entry's sender ends its task, which drops (and so removes) the
/// client library's watcher.
#[derive(Default)]
pub(super) struct WatchTable {
    pub(super) entries: HashMap<(String, WatchKind), WatchEntry>,
}

static NEXT_WATCH_ID: AtomicU64 = AtomicU64::new(1);

impl Shell {
    fn register(&self, path: &str, kind: WatchKind) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut table = self.watches.lock().unwrap();
        let key = (path.to_string(), kind);
        if table.entries.contains_key(&key) {
            return None;
        }
        let id = NEXT_WATCH_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        table.entries.insert(key, WatchEntry { id, cancel: tx });
        Some((id, rx))
    }

    pub(super) fn watch_oneshot(&self, path: &str, kind: WatchKind, watcher: OneshotWatcher) {
        let Some((id, cancel)) = self.register(path, kind) else {
            return; // already watching: zkCli's watcher set holds it once
        };
        let table = self.watches.clone();
        let events = self.events.clone();
        let key = (path.to_string(), kind);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                ev = watcher.changed() => {
                    {
                        let mut t = table.lock().unwrap();
                        if t.entries.get(&key).is_some_and(|e| e.id == id) {
                            t.entries.remove(&key);
                        }
                    }
                    if ev.event_type != EventType::Session {
                        events.node_event(&ev);
                    }
                }
                _ = cancel => {}
            }
        });
    }

    pub(super) fn watch_persistent(
        &self,
        path: &str,
        kind: WatchKind,
        mut watcher: PersistentWatcher,
    ) {
        let Some((_, mut cancel)) = self.register(path, kind) else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    ev = watcher.changed() => {
                        if ev.event_type == EventType::Session {
                            if ev.session_state.is_terminated() {
                                break;
                            }
                        } else {
                            events.node_event(&ev);
                        }
                    }
                    _ = &mut cancel => break,
                }
            }
        });
    }
}
