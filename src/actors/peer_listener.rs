//! PeerListener: the transport of fast leader election on the election port (ZooKeeper's
//! QuorumCnxManager).
//!
//! - At most one connection per pair of servers, and only one **initiated by the larger id**
//!   survives: a server keeps dialing every member with a smaller id (bounded exponential
//!   backoff, host names resolved again on every dial). A server with something to say to a
//!   larger id it has no connection with dials it, sends `Hello` and hangs up: the larger one
//!   takes that as a request, closes the connection and dials back at once (if it already has
//!   a connection, it writes a `Hello` on it as a probe, so a half-open one fails and is
//!   replaced).
//! - Every connection starts with `Hello { version, sid }` from the initiator, answered by the
//!   acceptor's `Hello`. Another version, an id outside the configuration, this server's own
//!   id, or any other first frame closes the connection, logged with the peer's address.
//!   After the handshake only `Notification`s (and probe `Hello`s) may follow, with the sender
//!   id of the handshake; anything else closes that connection only.
//! - Each linked connection is a task on this arbiter: it hands received notifications
//!   straight to the election actor and writes the newest notification queued for its peer.
//!   Notifications are state, not deltas: a newer one replaces one not yet written, also while
//!   there is no connection.

use super::election::{PeerConnected, PeerNotification};
use crate::codec::peer::{
    supported_version, PeerCodec, PeerCodecError, PeerMessage, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use crate::proto::election::Notification;
use crate::settings::Member;
use actix::prelude::*;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::{FramedRead, FramedWrite};

type Reader = FramedRead<OwnedReadHalf, PeerCodec>;
type Writer = FramedWrite<OwnedWriteHalf, PeerCodec>;

/// Timing of the election transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// First delay before dialing again after a failed attempt; doubles per failure.
    pub backoff_min: Duration,
    /// Largest delay between two attempts.
    pub backoff_max: Duration,
    /// Limit of one TCP connect (ZooKeeper's `cnxTimeout`, 5 s).
    pub connect_timeout: Duration,
    /// Limit for the peer's `Hello` once connected.
    pub handshake_timeout: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// Bind this server's election address. The error names the address and the setting.
pub async fn bind_election_port(me: &Member, all_ips: bool) -> io::Result<TcpListener> {
    let addr = me.listen_addr(me.election_port, all_ips);
    TcpListener::bind(addr.as_str()).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {addr} (election port of quorum.members.{}): {e}",
                me.id
            ),
        )
    })
}

/// Queue a notification for a member; it replaces one queued for it and not yet written.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SendNotification {
    pub to: u64,
    pub notification: Notification,
}

/// Close the listening socket and every connection, then stop.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopTransport;

/// The connections that passed the handshake.
#[derive(Message, Debug)]
#[rtype(result = "Vec<LinkInfo>")]
pub struct GetLinks;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer's server id.
    pub sid: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// This server dialed it (always true when `sid` is smaller than ours).
    pub initiated: bool,
}

/// What a connection task writes next: the newest notification and probe requests, each with
/// a counter so the task sees every change once.
#[derive(Debug, Default, Clone, Copy)]
struct Outbox {
    note: Option<Notification>,
    note_seq: u64,
    probe_seq: u64,
}

/// What the connection tasks need, shared by all of them.
struct Shared {
    me: u64,
    /// Every member but this server.
    members: HashMap<u64, Member>,
    config: TransportConfig,
    deliver: Recipient<PeerNotification>,
    /// Told when a peer's connection opens or closes (or a dial fails).
    links: Recipient<PeerConnected>,
}

impl Shared {
    /// Tell the election whether the connection with `sid` is open.
    fn report(&self, sid: u64, up: bool) {
        self.links.do_send(PeerConnected { sid, up });
    }
}

struct Conn {
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
    initiated: bool,
    outbox: watch::Sender<Outbox>,
}

/// Our side of the link with one member.
struct Link {
    conn: Option<Conn>,
    /// Newest notification not yet handed to a connection.
    pending: Option<Notification>,
    /// A dial task is under way.
    dialing: bool,
    /// A dial is scheduled.
    retry: Option<SpawnHandle>,
    backoff: Duration,
    /// Dial failures in a row (the first is a warning, the next ones debug lines).
    failures: u32,
}

pub struct PeerListener {
    shared: Rc<Shared>,
    listener: Option<TcpListener>,
    links: HashMap<u64, Link>,
    next_id: u64,
}

impl PeerListener {
    /// `members` is the whole configuration (this server included); `deliver` receives every
    /// notification that arrives.
    pub fn new(
        me: u64,
        members: &[Member],
        listener: TcpListener,
        config: TransportConfig,
        deliver: Recipient<PeerNotification>,
        on_link: Recipient<PeerConnected>,
    ) -> Self {
        let others: HashMap<u64, Member> = members
            .iter()
            .filter(|m| m.id != me)
            .map(|m| (m.id, m.clone()))
            .collect();
        let links = others
            .keys()
            .map(|&id| {
                (
                    id,
                    Link {
                        conn: None,
                        pending: None,
                        dialing: false,
                        retry: None,
                        backoff: config.backoff_min,
                        failures: 0,
                    },
                )
            })
            .collect();
        PeerListener {
            shared: Rc::new(Shared {
                me,
                members: others,
                config,
                deliver,
                links: on_link,
            }),
            listener: Some(listener),
            links,
            next_id: 1,
        }
    }

    fn conn_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Dial `sid` now if the link needs it: always for a smaller id (we own that link), for a
    /// larger id only to ask it to dial back while something waits to be sent.
    fn drive(&mut self, sid: u64, ctx: &mut Context<Self>) {
        let me = self.shared.me;
        let Some(link) = self.links.get_mut(&sid) else {
            return;
        };
        if link.conn.is_some() || link.dialing || link.retry.is_some() {
            return;
        }
        if sid > me && link.pending.is_none() {
            return;
        }
        let Some(member) = self.shared.members.get(&sid).cloned() else {
            return;
        };
        link.dialing = true;
        let id = self.conn_id();
        actix::spawn(dial(self.shared.clone(), ctx.address(), member, id));
    }

    fn schedule_retry(&mut self, sid: u64, ctx: &mut Context<Self>) {
        let max = self.shared.config.backoff_max;
        let Some(link) = self.links.get_mut(&sid) else {
            return;
        };
        if link.retry.is_some() {
            return;
        }
        let delay = link.backoff;
        link.backoff = (link.backoff * 2).min(max);
        link.retry = Some(ctx.run_later(delay, move |act, ctx| {
            if let Some(l) = act.links.get_mut(&sid) {
                l.retry = None;
            }
            act.drive(sid, ctx);
        }));
    }

    fn reset_backoff(&mut self, sid: u64, ctx: &mut Context<Self>) {
        let min = self.shared.config.backoff_min;
        if let Some(link) = self.links.get_mut(&sid) {
            if let Some(h) = link.retry.take() {
                ctx.cancel_future(h);
            }
            link.backoff = min;
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Accepted(io::Result<(TcpStream, SocketAddr)>);

/// A connection passed the handshake; the task writes what `outbox` holds.
#[derive(Message)]
#[rtype(result = "()")]
struct Linked {
    sid: u64,
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
    initiated: bool,
    outbox: watch::Sender<Outbox>,
}

/// A linked connection ended.
#[derive(Message)]
#[rtype(result = "()")]
struct Unlinked {
    sid: u64,
    id: u64,
}

/// A dial ended without a link: `Ok` = our `Hello` reached a larger id (a dial-back request).
#[derive(Message)]
#[rtype(result = "()")]
struct DialEnded {
    sid: u64,
    outcome: Result<(), String>,
}

/// A smaller id connected to us: it wants us to dial it.
#[derive(Message)]
#[rtype(result = "()")]
struct DialBack {
    sid: u64,
}

impl Actor for PeerListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(l) = self.listener.take() {
            if let Ok(a) = l.local_addr() {
                tracing::debug!(myid = self.shared.me, "election port listening on {a}");
            }
            let accepts = futures::stream::unfold(l, |l| async move {
                let r = l.accept().await;
                if r.is_err() {
                    // E.g. out of file descriptors: do not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some((Accepted(r), l))
            });
            ctx.add_stream(accepts);
        }
        let mut smaller: Vec<u64> = self
            .links
            .keys()
            .copied()
            .filter(|&id| id < self.shared.me)
            .collect();
        smaller.sort_unstable();
        for sid in smaller {
            self.drive(sid, ctx);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::debug!(myid = self.shared.me, "election transport stopped");
    }
}

impl StreamHandler<Accepted> for PeerListener {
    fn handle(&mut self, item: Accepted, ctx: &mut Context<Self>) {
        match item.0 {
            Ok((stream, remote)) => {
                let id = self.conn_id();
                actix::spawn(accept(
                    self.shared.clone(),
                    ctx.address(),
                    stream,
                    remote,
                    id,
                ));
            }
            Err(e) => tracing::warn!(
                myid = self.shared.me,
                "accept on the election port failed: {e}"
            ),
        }
    }
}

impl Handler<SendNotification> for PeerListener {
    type Result = ();
    fn handle(&mut self, m: SendNotification, ctx: &mut Context<Self>) {
        let Some(link) = self.links.get_mut(&m.to) else {
            tracing::debug!(
                myid = self.shared.me,
                "not sending a notification to server {}: not in the configuration",
                m.to
            );
            return;
        };
        if let Some(conn) = &link.conn {
            if !conn.outbox.is_closed() {
                conn.outbox.send_modify(|o| {
                    o.note = Some(m.notification);
                    o.note_seq += 1;
                });
                return;
            }
            // Its task is gone; `Unlinked` is on its way.
            link.conn = None;
        }
        link.pending = Some(m.notification);
        self.drive(m.to, ctx);
    }
}

impl Handler<Linked> for PeerListener {
    type Result = ();
    fn handle(&mut self, m: Linked, ctx: &mut Context<Self>) {
        let me = self.shared.me;
        let Some(link) = self.links.get_mut(&m.sid) else {
            return;
        };
        if m.initiated {
            link.dialing = false;
        }
        if m.outbox.is_closed() {
            // The connection already failed; its `Unlinked` follows.
            return;
        }
        if link.failures > 0 {
            tracing::info!(
                myid = me,
                "connected to server {} at {} (election port)",
                m.sid,
                m.remote
            );
        } else {
            tracing::debug!(
                myid = me,
                "election connection with server {} at {} ({})",
                m.sid,
                m.remote,
                if m.initiated { "dialed" } else { "accepted" }
            );
        }
        link.failures = 0;
        self.shared.report(m.sid, true);
        if let Some(n) = link.pending.take() {
            m.outbox.send_modify(|o| {
                o.note = Some(n);
                o.note_seq += 1;
            });
        }
        let new = Conn {
            id: m.id,
            local: m.local,
            remote: m.remote,
            initiated: m.initiated,
            outbox: m.outbox,
        };
        if let Some(old) = link.conn.replace(new) {
            // Dropping its outbox ends the old task.
            tracing::debug!(
                myid = me,
                "replacing the election connection with server {} at {}",
                m.sid,
                old.remote
            );
        }
        self.reset_backoff(m.sid, ctx);
    }
}

impl Handler<Unlinked> for PeerListener {
    type Result = ();
    fn handle(&mut self, m: Unlinked, ctx: &mut Context<Self>) {
        let Some(link) = self.links.get_mut(&m.sid) else {
            return;
        };
        if link.conn.as_ref().is_some_and(|c| c.id == m.id) {
            link.conn = None;
            self.shared.report(m.sid, false);
            if m.sid < self.shared.me {
                self.schedule_retry(m.sid, ctx);
            } else {
                self.drive(m.sid, ctx);
            }
        }
    }
}

impl Handler<DialEnded> for PeerListener {
    type Result = ();
    fn handle(&mut self, m: DialEnded, ctx: &mut Context<Self>) {
        let me = self.shared.me;
        let Some(link) = self.links.get_mut(&m.sid) else {
            return;
        };
        link.dialing = false;
        if let Err(why) = m.outcome {
            if link.conn.is_none() {
                self.shared.report(m.sid, false);
            }
            link.failures += 1;
            if link.failures == 1 {
                tracing::warn!(myid = me, "{why}");
            } else {
                tracing::debug!(myid = me, "{why} (attempt {})", link.failures);
            }
        }
        if link.conn.is_none() {
            // After a dial-back request: ask again if the peer has not dialed by then.
            self.schedule_retry(m.sid, ctx);
        }
    }
}

impl Handler<DialBack> for PeerListener {
    type Result = ();
    fn handle(&mut self, m: DialBack, ctx: &mut Context<Self>) {
        let Some(link) = self.links.get_mut(&m.sid) else {
            return;
        };
        if let Some(conn) = &link.conn {
            // The peer believes it has no connection: probe ours, a dead one then fails.
            conn.outbox.send_modify(|o| o.probe_seq += 1);
            return;
        }
        if link.dialing {
            return;
        }
        self.reset_backoff(m.sid, ctx);
        self.drive(m.sid, ctx);
    }
}

impl Handler<StopTransport> for PeerListener {
    type Result = ();
    fn handle(&mut self, _: StopTransport, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<GetLinks> for PeerListener {
    type Result = Vec<LinkInfo>;
    fn handle(&mut self, _: GetLinks, _: &mut Context<Self>) -> Vec<LinkInfo> {
        let mut v: Vec<LinkInfo> = self
            .links
            .iter()
            .filter_map(|(&sid, l)| {
                l.conn.as_ref().map(|c| LinkInfo {
                    sid,
                    local: c.local,
                    remote: c.remote,
                    initiated: c.initiated,
                })
            })
            .collect();
        v.sort_by_key(|l| l.sid);
        v
    }
}

fn hello(me: u64) -> PeerMessage {
    PeerMessage::Hello {
        version: PROTOCOL_VERSION,
        sid: me,
    }
}

/// The variant name of a message, for log lines (never its possibly large payload).
fn kind(m: &PeerMessage) -> String {
    let s = format!("{m:?}");
    s.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_string()
}

/// Dial `member`: a link when it has a smaller id, a dial-back request otherwise.
async fn dial(shared: Rc<Shared>, listener: Addr<PeerListener>, member: Member, id: u64) {
    let sid = member.id;
    let target = member.election_addr();
    match dial_handshake(&shared, &member, &target).await {
        Err(why) => listener.do_send(DialEnded {
            sid,
            outcome: Err(format!(
                "cannot open channel to {sid} at election address {target}: {why}"
            )),
        }),
        Ok(None) => listener.do_send(DialEnded {
            sid,
            outcome: Ok(()),
        }),
        Ok(Some((read, write, local, remote))) => {
            run_link(
                &shared, &listener, sid, id, local, remote, true, read, write,
            )
            .await
        }
    }
}

type Dialed = (Reader, Writer, SocketAddr, SocketAddr);

async fn dial_handshake(
    shared: &Shared,
    member: &Member,
    target: &str,
) -> Result<Option<Dialed>, String> {
    let cfg = &shared.config;
    // Resolved again on every dial: a host may have moved.
    let stream = match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(target)).await {
        Err(_) => return Err(format!("no connection within {:?}", cfg.connect_timeout)),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let remote = stream.peer_addr().map_err(|e| e.to_string())?;
    let stream = match crate::tls::quorum::get() {
        Some(t) => t.dial(stream, member).await.map_err(|e| e.to_string())?,
        None => stream,
    };
    let (r, w) = stream.into_split();
    let mut read = FramedRead::new(r, PeerCodec);
    let mut write = FramedWrite::new(w, PeerCodec);
    write
        .send(hello(shared.me))
        .await
        .map_err(|e| format!("sending Hello failed: {e}"))?;
    if member.id > shared.me {
        // Only the larger id keeps a connection: this one just asks it to dial back.
        tracing::debug!(
            myid = shared.me,
            "asked server {} at {remote} to connect to this server",
            member.id
        );
        return Ok(None);
    }
    match tokio::time::timeout(cfg.handshake_timeout, read.next()).await {
        Err(_) => Err(format!("no Hello within {:?}", cfg.handshake_timeout)),
        Ok(None) => Err(format!(
            "{remote} closed the connection during the handshake (does it have server {} in its configuration?)",
            shared.me
        )),
        Ok(Some(Err(e))) => Err(format!("bad handshake from {remote}: {e}")),
        Ok(Some(Ok(PeerMessage::Hello { version, sid }))) => {
            if !supported_version(version) {
                Err(format!(
                    "{remote} speaks peer protocol version {version}, this server {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
                ))
            } else if sid != member.id {
                Err(format!(
                    "{remote} says it is server {sid}, not {} (check quorum.members)",
                    member.id
                ))
            } else {
                Ok(Some((read, write, local, remote)))
            }
        }
        Ok(Some(Ok(other))) => Err(format!(
            "{remote} answered {} instead of Hello",
            kind(&other)
        )),
    }
}

/// Handshake of a connection from another server, then its link (larger ids only).
async fn accept(
    shared: Rc<Shared>,
    listener: Addr<PeerListener>,
    stream: TcpStream,
    remote: SocketAddr,
    id: u64,
) {
    let me = shared.me;
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let stream = match crate::tls::quorum::get() {
        Some(t) => match t.accept(stream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(myid = me, "refusing election connection from {remote}: {e}");
                return;
            }
        },
        None => stream,
    };
    let (r, w) = stream.into_split();
    let mut read = FramedRead::new(r, PeerCodec);
    let mut write = FramedWrite::new(w, PeerCodec);
    let timeout = shared.config.handshake_timeout;
    let refuse = |why: String| {
        tracing::warn!(
            myid = me,
            "refusing election connection from {remote}: {why}"
        );
    };
    let sid = match tokio::time::timeout(timeout, read.next()).await {
        Err(_) => return refuse(format!("no Hello within {timeout:?}")),
        Ok(None) => {
            tracing::debug!(myid = me, "{remote} closed before its Hello");
            return;
        }
        Ok(Some(Err(e))) => return refuse(e.to_string()),
        Ok(Some(Ok(PeerMessage::Hello { version, sid }))) => {
            if !supported_version(version) {
                return refuse(format!(
                    "peer protocol version {version}, this server speaks {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
                ));
            }
            if sid == me {
                return refuse(format!("it claims this server's own id {sid}"));
            }
            if !shared.members.contains_key(&sid) {
                return refuse(format!("server id {sid} is not in quorum.members"));
            }
            sid
        }
        Ok(Some(Ok(other))) => {
            return refuse(format!("first message is {}, not Hello", kind(&other)))
        }
    };
    if sid < me {
        // Only connections initiated by the larger id survive: close and dial back.
        tracing::debug!(
            myid = me,
            "server {sid} ({remote}) has a smaller id: closing its connection and dialing back"
        );
        drop((read, write));
        listener.do_send(DialBack { sid });
        return;
    }
    if let Err(e) = write.send(hello(me)).await {
        tracing::debug!(
            myid = me,
            "answering the Hello of server {sid} at {remote} failed: {e}"
        );
        return;
    }
    run_link(
        &shared, &listener, sid, id, local, remote, false, read, write,
    )
    .await;
}

/// Register a handshaken connection and run it until it fails or the listener drops it.
#[allow(clippy::too_many_arguments)]
async fn run_link(
    shared: &Shared,
    listener: &Addr<PeerListener>,
    sid: u64,
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
    initiated: bool,
    mut read: Reader,
    mut write: Writer,
) {
    let (tx, mut rx) = watch::channel(Outbox::default());
    // If the listener is gone the message, and with it `tx`, is dropped: the writer ends.
    listener.do_send(Linked {
        sid,
        id,
        local,
        remote,
        initiated,
        outbox: tx,
    });
    let why = tokio::select! {
        why = read_loop(shared, sid, remote, &mut read) => why,
        why = write_loop(shared.me, &mut write, &mut rx) => why,
    };
    tracing::debug!(
        myid = shared.me,
        "election connection with server {sid} at {remote} closed: {why}"
    );
    listener.do_send(Unlinked { sid, id });
}

async fn read_loop(shared: &Shared, sid: u64, remote: SocketAddr, read: &mut Reader) -> String {
    let me = shared.me;
    loop {
        match read.next().await {
            None => return "closed by the peer".to_string(),
            Some(Err(PeerCodecError::Io(e))) => return e.to_string(),
            Some(Err(e)) => {
                tracing::warn!(
                    myid = me,
                    "closing election connection with server {sid} at {remote}: {e}"
                );
                return e.to_string();
            }
            Some(Ok(PeerMessage::Notification(n))) => {
                if n.sid != sid {
                    tracing::warn!(
                        myid = me,
                        "closing election connection with server {sid} at {remote}: notification sent as server {}",
                        n.sid
                    );
                    return "wrong sender id".to_string();
                }
                if !shared.deliver.connected() {
                    return "the election actor is gone".to_string();
                }
                shared.deliver.do_send(PeerNotification(n));
            }
            Some(Ok(PeerMessage::Hello { version, sid: s }))
                if supported_version(version) && s == sid =>
            {
                // A probe.
            }
            Some(Ok(other)) => {
                tracing::warn!(
                    myid = me,
                    "closing election connection with server {sid} at {remote}: unexpected {} message",
                    kind(&other)
                );
                return "unexpected message".to_string();
            }
        }
    }
}

async fn write_loop(me: u64, write: &mut Writer, rx: &mut watch::Receiver<Outbox>) -> String {
    let (mut note_seq, mut probe_seq) = (0, 0);
    loop {
        let out = *rx.borrow_and_update();
        if out.probe_seq != probe_seq {
            probe_seq = out.probe_seq;
            if let Err(e) = write.send(hello(me)).await {
                return format!("write failed: {e}");
            }
        }
        if out.note_seq != note_seq {
            note_seq = out.note_seq;
            if let Some(n) = out.note {
                if let Err(e) = write.send(PeerMessage::Notification(n)).await {
                    return format!("write failed: {e}");
                }
            }
        }
        if rx.changed().await.is_err() {
            return "dropped by this server".to_string();
        }
    }
}
