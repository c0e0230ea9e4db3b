//! DataTreeActor: the shell around the request engine. It owns the tree, feeds it requests in
//! arrival order, hands txns to the Persister and forwards the engine's ordered outputs to the
//! connections.

use super::persister::{Append, MemoryPersister};
use super::session_tracker::{Buckets, SessionTracker, Track, Untrack};
use crate::codec::jute::{ConnectRequest, Request};
use crate::datatree::watch::ConnId;
use crate::datatree::Txn;
use crate::engine::{Engine, Out};
use crate::fourlw;
use crate::settings::Settings;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a connection is told by the tree actor.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum ToClient {
    Frame(Bytes),
    Close,
    Session(i64),
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    pub conn: ConnId,
    pub addr: String,
    pub client: Recipient<ToClient>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister(pub ConnId);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub conn: ConnId,
    pub req: ConnectRequest,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientRequest {
    pub conn: ConnId,
    pub xid: i32,
    pub opcode: i32,
    pub req: Request,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Durable(pub i64);

#[derive(Message)]
#[rtype(result = "()")]
pub struct ExpireSessions(pub Vec<i64>);

#[derive(Message)]
#[rtype(result = "String")]
pub struct FourLetter(pub String);

#[derive(Message)]
#[rtype(result = "Option<Addr<SessionTracker>>")]
pub struct GetTracker;

impl Handler<GetTracker> for DataTreeActor {
    type Result = Option<Addr<SessionTracker>>;
    fn handle(&mut self, _: GetTracker, _: &mut Context<Self>) -> Self::Result {
        self.tracker.clone()
    }
}

pub struct DataTreeActor {
    engine: Engine,
    settings: Settings,
    clients: HashMap<ConnId, Recipient<ToClient>>,
    tracker: Option<Addr<SessionTracker>>,
    persister: Option<Recipient<Append>>,
    batch: Vec<Txn>,
    started_ms: i64,
}

impl DataTreeActor {
    pub fn new(engine: Engine, settings: Settings, tracker: Addr<SessionTracker>) -> Self {
        DataTreeActor {
            engine,
            settings,
            clients: HashMap::new(),
            tracker: Some(tracker),
            persister: None,
            batch: Vec::new(),
            started_ms: now_ms(),
        }
    }

    fn run(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Send(c, b) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Frame(b));
                    }
                }
                Out::Close(c) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Close);
                    }
                }
                Out::Session(c, id) => {
                    if let Some(r) = self.clients.get(&c) {
                        r.do_send(ToClient::Session(id));
                    }
                }
                Out::Persist(t) => self.batch.push(t),
                Out::Track(id, to) => {
                    if let Some(t) = &self.tracker {
                        t.do_send(Track(id, to));
                    }
                }
                Out::Untrack(id) => {
                    if let Some(t) = &self.tracker {
                        t.do_send(Untrack(id));
                    }
                }
            }
        }
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            if let Some(p) = &self.persister {
                p.do_send(Append(batch));
            }
        }
    }
}

impl Actor for DataTreeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = ctx.address();
        self.persister = Some(MemoryPersister::new(me).start().recipient());
        let every = Duration::from_millis(self.settings.server.container_check_interval.max(10));
        ctx.run_interval(every, |act, _| {
            let outs = act.engine.reap(now_ms());
            act.run(outs);
        });
    }
}

impl Handler<Register> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Register, _: &mut Context<Self>) {
        self.engine.connected(m.conn, &m.addr, now_ms());
        self.clients.insert(m.conn, m.client);
    }
}

impl Handler<Unregister> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Unregister, _: &mut Context<Self>) {
        self.engine.disconnected(m.0);
        self.clients.remove(&m.0);
    }
}

impl Handler<Connect> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Connect, _: &mut Context<Self>) {
        let outs = self.engine.connect(m.conn, &m.req, now_ms());
        self.run(outs);
    }
}

impl Handler<ClientRequest> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ClientRequest, _: &mut Context<Self>) {
        let outs = self.engine.request(m.conn, m.xid, m.opcode, m.req, now_ms());
        self.run(outs);
    }
}

impl Handler<Durable> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: Durable, _: &mut Context<Self>) {
        let outs = self.engine.durable(m.0, now_ms());
        self.run(outs);
    }
}

impl Handler<ExpireSessions> for DataTreeActor {
    type Result = ();
    fn handle(&mut self, m: ExpireSessions, _: &mut Context<Self>) {
        let outs = self.engine.expire(&m.0, now_ms());
        self.run(outs);
    }
}

impl Handler<FourLetter> for DataTreeActor {
    type Result = ResponseActFuture<Self, String>;
    fn handle(&mut self, m: FourLetter, _: &mut Context<Self>) -> Self::Result {
        let tracker = self.tracker.clone();
        let word = m.0;
        if !self.settings.four_letter_word_allowed(&word) {
            let text = fourlw::not_allowed(&word);
            return Box::pin(async move { text }.into_actor(self));
        }
        let is_dump = word == "dump";
        Box::pin(
            async move {
                match (is_dump, tracker) {
                    (true, Some(t)) => t.send(Buckets).await.unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            .into_actor(self)
            .map(move |buckets, act, _| {
                let info = fourlw::ServerInfo {
                    settings: &act.settings,
                    mode: "standalone",
                    started_ms: act.started_ms,
                    now_ms: now_ms(),
                    buckets,
                };
                fourlw::answer(&word, &mut act.engine, &info)
            }),
        )
    }
}
