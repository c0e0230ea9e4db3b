//! SessionTracker: the expiry queue on a timer. Connections touch their sessions; every tick
//! the expired ones are handed to the tree actor, which closes them with a txn.

use super::data_tree::{DataTreeActor, ExpireSessions};
use crate::proto::session::ExpiryQueue;
use actix::prelude::*;
use std::time::{Duration, Instant};

pub struct SessionTracker {
    queue: ExpiryQueue,
    /// Only a leader or a standalone server expires sessions; a learner collects touches
    /// for the leader.
    expiring: bool,
    touched: std::collections::HashSet<i64>,
    start: Instant,
    /// Wall-clock ms at `start`, for `dump`.
    start_wall: i64,
    tick: u64,
    tree: Addr<DataTreeActor>,
}

impl SessionTracker {
    pub fn new(tick_ms: u64, tree: Addr<DataTreeActor>, start_wall: i64) -> Self {
        SessionTracker {
            queue: ExpiryQueue::new(tick_ms),
            expiring: true,
            touched: Default::default(),
            start: Instant::now(),
            start_wall,
            tick: tick_ms,
            tree,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

impl Actor for SessionTracker {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(self.tick.max(1)), |act, _| {
            if !act.expiring {
                return;
            }
            let now = act.now();
            let expired = act.queue.expired(now);
            if !expired.is_empty() {
                act.tree.do_send(ExpireSessions(expired));
            }
        });
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Track(pub i64, pub u64);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Untrack(pub i64);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Touch(pub i64);

/// Expiry buckets as (wall-clock deadline ms, sessions).
#[derive(Message)]
#[rtype(result = "Vec<(i64, Vec<i64>)>")]
pub struct Buckets;

impl Handler<Track> for SessionTracker {
    type Result = ();
    fn handle(&mut self, m: Track, _: &mut Context<Self>) {
        let now = self.now();
        self.queue.add(m.0, m.1, now);
    }
}

impl Handler<Untrack> for SessionTracker {
    type Result = ();
    fn handle(&mut self, m: Untrack, _: &mut Context<Self>) {
        self.queue.remove(m.0);
    }
}

impl Handler<Touch> for SessionTracker {
    type Result = ();
    fn handle(&mut self, m: Touch, _: &mut Context<Self>) {
        if !self.expiring {
            self.touched.insert(m.0);
            return;
        }
        let now = self.now();
        self.queue.touch(m.0, now);
    }
}

impl Handler<Buckets> for SessionTracker {
    type Result = MessageResult<Buckets>;
    fn handle(&mut self, _: Buckets, _: &mut Context<Self>) -> Self::Result {
        let base = self.start_wall;
        MessageResult(
            self.queue
                .buckets()
                .into_iter()
                .map(|(d, s)| (base + d as i64, s))
                .collect(),
        )
    }
}

/// Expire sessions (leader, standalone) or only collect touches (learner). Forgets every
/// tracked session either way: the new role tracks what it needs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetExpiring(pub bool);

impl Handler<SetExpiring> for SessionTracker {
    type Result = ();
    fn handle(&mut self, m: SetExpiring, _: &mut Context<Self>) {
        self.expiring = m.0;
        self.queue = ExpiryQueue::new(self.tick);
        self.touched.clear();
    }
}

/// Learner: the sessions touched since the last call.
#[derive(Message)]
#[rtype(result = "Vec<i64>")]
pub struct TakeTouches;

impl Handler<TakeTouches> for SessionTracker {
    type Result = MessageResult<TakeTouches>;
    fn handle(&mut self, _: TakeTouches, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.touched.drain().collect())
    }
}
