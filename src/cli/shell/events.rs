//! [`EventSink`]: printing watch and session events (zkCli's default watcher).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use zookeeper_client::{EventType, SessionState, WatchedEvent};

use super::WatchKind;
use crate::cli::format::{event_type_name, format_event, keeper_state_name, watcher_block};

/// Where watch and session events go (zkCli's default watcher): printed only in
/// interactive mode and while `printwatches` is on.
pub struct EventSink {
    enabled: AtomicBool,
    print_watches: AtomicBool,
    recent: Mutex<VecDeque<(i64, EventType, String)>>,
}

impl EventSink {
    pub fn new(enabled: bool) -> Self {
        EventSink {
            enabled: AtomicBool::new(enabled),
            print_watches: AtomicBool::new(true),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Stops printing events for good (zkCli exits at end of input without reporting
    /// the session's close).
    pub fn silence(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    pub fn print_watches(&self) -> bool {
        self.print_watches.load(Ordering::SeqCst)
    }

    pub fn set_print_watches(&self, on: bool) {
        self.print_watches.store(on, Ordering::SeqCst);
    }

    fn emit(&self, event: String) {
        if !self.enabled.load(Ordering::SeqCst) || !self.print_watches() {
            return;
        }
        use std::io::Write;
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(watcher_block(&event).as_bytes());
        let _ = o.flush();
    }

    /// A node event. The same notification reaching several of our watchers (zkCli
    /// registers one default watcher, so prints it once) is printed once when the server
    /// supplies its zxid.
    pub fn node_event(&self, ev: &WatchedEvent) {
        if ev.zxid >= 0 {
            let key = (ev.zxid, ev.event_type, ev.path.clone());
            let mut recent = self.recent.lock().unwrap();
            if recent.contains(&key) {
                return;
            }
            recent.push_back(key);
            if recent.len() > 64 {
                recent.pop_front();
            }
        }
        self.emit(format_event(
            keeper_state_name(ev.session_state),
            event_type_name(ev.event_type),
            Some(&ev.path),
        ));
    }

    pub fn session_event(&self, state: SessionState) {
        self.emit(format_event(keeper_state_name(state), "None", None));
    }

    /// The `*WatchRemoved` events zkCli prints after `removewatches`.
    pub fn removed_event(&self, kind: WatchKind, path: &str) {
        let t = match kind {
            WatchKind::Data => "DataWatchRemoved",
            WatchKind::Child => "ChildWatchRemoved",
            WatchKind::Persistent | WatchKind::PersistentRecursive => "PersistentWatchRemoved",
        };
        self.emit(format_event("SyncConnected", t, Some(path)));
    }
}
