//! Connections and their counters: what `cons`, `stat`, `srvr` and `mntr` show, and the sends
//! that account them.

use super::{Engine, Out};
use crate::datatree::acl::AuthInfo;
use crate::datatree::watch::ConnId;
use bytes::Bytes;

/// Per-connection state and the counters `cons` and `stat` show.
#[derive(Debug, Clone)]
pub struct ConnState {
    pub addr: String,
    pub auth: AuthInfo,
    pub session: i64,
    pub timeout: i32,
    pub read_only: Option<bool>,
    pub established: i64,
    pub received: u64,
    pub sent: u64,
    pub outstanding: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response: i64,
    pub last_latency: i64,
    pub min_latency: i64,
    pub max_latency: i64,
    pub total_latency: i64,
    pub count: u64,
}

/// Which latency figure a reply counts in (ZooKeeper's readlatency or updatelatency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    Read,
    Update,
}

/// Per-request latencies, gathered on the engine's thread and handed to the shared figures in
/// batches (see [`crate::metrics::Buffered`]).
pub struct Latencies {
    pub read: crate::metrics::Buffered,
    pub update: crate::metrics::Buffered,
    /// Leader: proposal to commit.
    pub quorum_ack: crate::metrics::Buffered,
    /// Every member: proposal to apply here.
    pub propagation: crate::metrics::Buffered,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            read: crate::metrics::Buffered::new(&crate::metrics::SERVER.readlatency),
            update: crate::metrics::Buffered::new(&crate::metrics::SERVER.updatelatency),
            quorum_ack: crate::metrics::Buffered::new(&crate::metrics::SERVER.quorum_ack_latency),
            propagation: crate::metrics::Buffered::new(&crate::metrics::SERVER.propagation_latency),
        }
    }

    pub fn flush(&mut self) {
        self.read.flush();
        self.update.flush();
        self.quorum_ack.flush();
        self.propagation.flush();
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// Server-wide counters for srvr / stat / mntr.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub received: u64,
    pub sent: u64,
    pub min_latency: i64,
    pub max_latency: i64,
    pub total_latency: i64,
    pub count: u64,
    pub auth_failed: u64,
    /// Sizes of replies in bytes (-1 until the first one).
    pub last_response_size: i64,
    pub min_response_size: i64,
    pub max_response_size: i64,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            last_response_size: -1,
            min_response_size: -1,
            max_response_size: -1,
            ..Default::default()
        }
    }

    pub fn avg_latency(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_latency as f64 / self.count as f64
        }
    }
}

impl Engine {
    pub(super) fn send(&mut self, conn: ConnId, b: Bytes, outs: &mut Vec<Out>) {
        self.stats.sent += 1;
        outs.push(Out::Send(conn, b));
    }

    /// Send a reply and account its latency (as a read's or an update's) and size.
    pub(super) fn send_reply(
        &mut self,
        conn: ConnId,
        b: Bytes,
        arrived: i64,
        now: i64,
        kind: Latency,
        outs: &mut Vec<Out>,
    ) {
        let lat = (now - arrived).max(0);
        match kind {
            Latency::Read => self.latencies.read.add(lat as u64),
            Latency::Update => self.latencies.update.add(lat as u64),
        }
        let n = b.len() as i64 - 4;
        let s = &mut self.stats;
        if s.count == 0 || lat < s.min_latency {
            s.min_latency = lat;
        }
        s.max_latency = s.max_latency.max(lat);
        s.total_latency += lat;
        s.count += 1;
        s.last_response_size = n;
        s.min_response_size = if s.min_response_size < 0 {
            n
        } else {
            s.min_response_size.min(n)
        };
        s.max_response_size = s.max_response_size.max(n);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent += 1;
            c.outstanding = c.outstanding.saturating_sub(1);
            c.last_response = now;
            c.last_latency = lat;
            if c.count == 0 || lat < c.min_latency {
                c.min_latency = lat;
            }
            c.max_latency = c.max_latency.max(lat);
            c.total_latency += lat;
            c.count += 1;
        }
        self.stats.sent += 1;
        outs.push(Out::Reply(conn, b));
    }

    /// A TLS connection's client certificate: its subject is the connection's `x509` id (and,
    /// for `tls.x509_super_user`, the super user), as with ZooKeeper's X509 provider.
    pub fn authenticated_x509(&mut self, conn: ConnId, dn: &str, is_super: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth.add_x509(dn, is_super);
        }
    }

    /// A new TCP connection.
    pub fn connected(&mut self, conn: ConnId, ip: &str, now: i64) {
        self.conns.insert(
            conn,
            ConnState {
                addr: ip.to_string(),
                auth: AuthInfo::for_ip(ip.split(':').next().unwrap_or(ip)),
                session: 0,
                timeout: 0,
                read_only: None,
                established: now,
                received: 0,
                sent: 0,
                outstanding: 0,
                last_op: "NA",
                last_cxid: -1,
                last_zxid: -1,
                last_response: 0,
                last_latency: 0,
                min_latency: 0,
                max_latency: 0,
                total_latency: 0,
                count: 0,
            },
        );
    }

    /// The TCP connection went away: its watches go, its session stays until it expires.
    pub fn disconnected(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.owner.get(&c.session) == Some(&conn) {
                self.owner.remove(&c.session);
            }
        }
        self.watches.remove_conn(conn);
    }

    pub fn reset_stats(&mut self) {
        self.stats = Stats::new();
    }
}
