//! The server's own figures, named as ZooKeeper's `ServerMetrics` names them (times in
//! milliseconds, as ZooKeeper's), plus Keeper's own under `keeper_`.

use super::{Counter, Detail, MetricFamily, Summary, SummarySet};

pub struct ServerMetrics {
    // The log and snapshots.
    pub fsynctime: Summary,
    pub sync_processor_batch_size: Summary,
    pub snapshottime: Summary,
    pub dbinittime: Summary,
    pub startup_txns_loaded: Summary,
    pub startup_txns_load_time: Summary,
    pub startup_snap_load_time: Summary,
    // Clients.
    pub readlatency: Summary,
    pub updatelatency: Summary,
    pub connection_request_count: Counter,
    pub connection_rejected: Counter,
    pub unsuccessful_handshake: Counter,
    pub bytes_received_count: Counter,
    pub node_created_watch_count: Summary,
    pub node_deleted_watch_count: Summary,
    pub node_changed_watch_count: Summary,
    pub node_children_watch_count: Summary,
    pub revalidate_count: Counter,
    // The quorum.
    pub election_time: Summary,
    pub looking_count: Counter,
    pub proposal_count: Counter,
    pub commit_count: Counter,
    pub quorum_ack_latency: Summary,
    pub ack_latency: SummarySet,
    pub propagation_latency: Summary,
    pub diff_count: Counter,
    pub snap_count: Counter,
    pub follower_sync_time: Summary,
    pub observer_sync_time: Summary,
    pub learner_proposal_received_count: Counter,
    pub learner_commit_received_count: Counter,
    pub unrecoverable_error_count: Counter,
    // Keeper's own.
    pub trunc_count: Counter,
    pub sessions_expired: Counter,
}

/// The one set of figures of this process (a process is one server).
pub static SERVER: ServerMetrics = ServerMetrics {
    fsynctime: Summary::new(
        "fsynctime",
        "Time to write and fsync one group commit of the transaction log, ms",
        Detail::Basic,
    ),
    sync_processor_batch_size: Summary::new(
        "sync_processor_batch_size",
        "Transactions made durable by one fsync",
        Detail::Basic,
    ),
    snapshottime: Summary::new(
        "snapshottime",
        "Time to write a snapshot, ms",
        Detail::Basic,
    ),
    dbinittime: Summary::new(
        "dbinittime",
        "Time to load the database at startup or after a TRUNC, ms",
        Detail::Basic,
    ),
    startup_txns_loaded: Summary::new(
        "startup_txns_loaded",
        "Transactions replayed from the log at startup",
        Detail::Basic,
    ),
    startup_txns_load_time: Summary::new(
        "startup_txns_load_time",
        "Time to replay the log at startup, ms",
        Detail::Basic,
    ),
    startup_snap_load_time: Summary::new(
        "startup_snap_load_time",
        "Time to load the snapshot at startup, ms",
        Detail::Basic,
    ),
    readlatency: Summary::new(
        "readlatency",
        "Read request latency on this server, ms",
        Detail::Advanced,
    ),
    updatelatency: Summary::new(
        "updatelatency",
        "Update request latency on this server, ms",
        Detail::Advanced,
    ),
    connection_request_count: Counter::new(
        "connection_request_count",
        "Client connections accepted",
    ),
    connection_rejected: Counter::new(
        "connection_rejected",
        "Client connections refused (maxClientCnxns, connection limits)",
    ),
    unsuccessful_handshake: Counter::new(
        "unsuccessful_handshake",
        "TLS handshakes with clients that failed or timed out",
    ),
    bytes_received_count: Counter::new("bytes_received_count", "Bytes received from clients"),
    node_created_watch_count: Summary::new(
        "node_created_watch_count",
        "Watches fired by one NodeCreated event",
        Detail::Basic,
    ),
    node_deleted_watch_count: Summary::new(
        "node_deleted_watch_count",
        "Watches fired by one NodeDeleted event",
        Detail::Basic,
    ),
    node_changed_watch_count: Summary::new(
        "node_changed_watch_count",
        "Watches fired by one NodeDataChanged event",
        Detail::Basic,
    ),
    node_children_watch_count: Summary::new(
        "node_children_watch_count",
        "Watches fired by one NodeChildrenChanged event",
        Detail::Basic,
    ),
    revalidate_count: Counter::new(
        "revalidate_count",
        "Session revalidations answered by this leader (a client moved to a learner)",
    ),
    election_time: Summary::new(
        "election_time",
        "Time from entering LOOKING to a decided leader, ms",
        Detail::Basic,
    ),
    looking_count: Counter::new("looking_count", "Times this server entered LOOKING"),
    proposal_count: Counter::new("proposal_count", "Proposals made by this server as leader"),
    commit_count: Counter::new(
        "commit_count",
        "Transactions committed by this server as leader",
    ),
    quorum_ack_latency: Summary::new(
        "quorum_ack_latency",
        "Time from a proposal to its quorum of ACKs, on the leader, ms",
        Detail::Advanced,
    ),
    ack_latency: SummarySet::new(
        "ack_latency",
        "Time from a proposal to each voter's ACK, on the leader, ms (key: server id)",
        Detail::Advanced,
    ),
    propagation_latency: Summary::new(
        "propagation_latency",
        "Time from a transaction's creation on the leader to its apply on this server, ms",
        Detail::Advanced,
    ),
    diff_count: Counter::new("diff_count", "Learner syncs served with a DIFF"),
    snap_count: Counter::new("snap_count", "Learner syncs served with a SNAP"),
    follower_sync_time: Summary::new(
        "follower_sync_time",
        "Time a follower took to sync with the leader, ms",
        Detail::Basic,
    ),
    observer_sync_time: Summary::new(
        "observer_sync_time",
        "Time an observer took to sync with the leader, ms",
        Detail::Basic,
    ),
    learner_proposal_received_count: Counter::new(
        "learner_proposal_received_count",
        "Proposals received from the leader",
    ),
    learner_commit_received_count: Counter::new(
        "learner_commit_received_count",
        "Commits (or INFORMs) received from the leader",
    ),
    unrecoverable_error_count: Counter::new(
        "unrecoverable_error_count",
        "Errors after which this server stopped",
    ),
    trunc_count: Counter::new("keeper_trunc_count", "Learner syncs served with a TRUNC"),
    sessions_expired: Counter::new("keeper_sessions_expired", "Sessions expired"),
};

impl ServerMetrics {
    fn counters(&self) -> Vec<&Counter> {
        vec![
            &self.connection_request_count,
            &self.connection_rejected,
            &self.unsuccessful_handshake,
            &self.bytes_received_count,
            &self.revalidate_count,
            &self.looking_count,
            &self.proposal_count,
            &self.commit_count,
            &self.diff_count,
            &self.snap_count,
            &self.learner_proposal_received_count,
            &self.learner_commit_received_count,
            &self.unrecoverable_error_count,
            &self.trunc_count,
            &self.sessions_expired,
        ]
    }

    fn summaries(&self) -> Vec<&Summary> {
        vec![
            &self.fsynctime,
            &self.sync_processor_batch_size,
            &self.snapshottime,
            &self.dbinittime,
            &self.startup_txns_loaded,
            &self.startup_txns_load_time,
            &self.startup_snap_load_time,
            &self.readlatency,
            &self.updatelatency,
            &self.node_created_watch_count,
            &self.node_deleted_watch_count,
            &self.node_changed_watch_count,
            &self.node_children_watch_count,
            &self.election_time,
            &self.quorum_ack_latency,
            &self.propagation_latency,
            &self.follower_sync_time,
            &self.observer_sync_time,
        ]
    }

    /// Every figure, for the Prometheus endpoint.
    pub fn families(&self) -> Vec<MetricFamily> {
        let mut out: Vec<MetricFamily> = self.counters().into_iter().map(|c| c.family()).collect();
        out.extend(self.summaries().into_iter().map(|s| s.family()));
        out.extend(self.ack_latency.family());
        out
    }

    /// The rows `mntr` adds, in the shape of ZooKeeper's default metrics provider.
    pub fn mntr_rows(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in self.counters() {
            out.push((format!("zk_{}", c.name), c.get().to_string()));
        }
        for s in self.summaries() {
            s.mntr_rows(&mut out);
        }
        self.ack_latency.mntr_rows(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_has_one_name_and_a_help_text() {
        let families = SERVER.families();
        let mut names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a name is used twice: {names:?}");
        assert!(families.iter().all(|f| !f.help().is_empty()));
        assert!(names.contains(&"fsynctime") && names.contains(&"commit_count"));
    }
}
