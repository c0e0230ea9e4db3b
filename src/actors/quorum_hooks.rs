//! What a server's log writer tells its quorum peers itself, right after an fsync (the
//! persister's [`OnDurable`] hooks, so the persister knows no peer message): a learner's ACKs
//! and a leader's `Logged`. Sent from the log writer's thread, as ZooKeeper's follower sends
//! its ACKs from its sync thread: handing them to the event loop first would add a thread
//! wake-up to every write's commit path.

use super::link_writer::LinkWriter;
use super::persister::OnDurable;
use crate::codec::peer::PeerMessage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A learner's ACKs on its leader link: one per proposal, or only the last of each fsync to a
/// leader that counts ACKs cumulatively (peer protocol 3 on, known from the leader's Hello).
pub struct AckWhenDurable {
    link: Arc<LinkWriter>,
    cumulative: AtomicBool,
}

impl AckWhenDurable {
    pub fn new(link: Arc<LinkWriter>) -> Arc<AckWhenDurable> {
        Arc::new(AckWhenDurable {
            link,
            cumulative: AtomicBool::new(false),
        })
    }

    pub fn set_cumulative(&self, on: bool) {
        self.cumulative.store(on, Ordering::Relaxed);
    }
}

impl OnDurable for AckWhenDurable {
    fn durable(&self, zxids: &[i64]) {
        if self.cumulative.load(Ordering::Relaxed) {
            let last = zxids.last().map(|&zxid| PeerMessage::Ack { zxid });
            self.link.send_now(last);
        } else {
            self.link
                .send_now(zxids.iter().map(|&zxid| PeerMessage::Ack { zxid }));
        }
    }
}

/// A leader's `Logged` (peer protocol 2 on) with the last zxid of each fsync, to the voting
/// learners its latest proposals went to.
#[derive(Default)]
pub struct AnnounceWhenDurable {
    learners: Mutex<Vec<Arc<LinkWriter>>>,
}

impl AnnounceWhenDurable {
    pub fn set_learners(&self, learners: Vec<Arc<LinkWriter>>) {
        *self.learners.lock().unwrap_or_else(|p| p.into_inner()) = learners;
    }
}

impl OnDurable for AnnounceWhenDurable {
    fn durable(&self, zxids: &[i64]) {
        let Some(&zxid) = zxids.last() else { return };
        let learners = self
            .learners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for l in learners {
            l.send_now([PeerMessage::Logged { zxid }]);
        }
    }
}
