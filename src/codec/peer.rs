//! Messages between servers of an ensemble, as length-prefixed MessagePack frames:
//! `u32 length` then an rmp-serde encoded `PeerMessage`. Every connection starts with `Hello`
//! naming the sender; election traffic uses the election port, ZAB traffic the quorum port.

use crate::codec::jute::Id;
use crate::datatree::Txn;
use crate::proto::election::Notification;
use bytes::{Buf, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

/// Version of the peer protocol this server speaks; peers outside
/// `MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION` are refused. 2 added `Logged`; 3 made COMMIT and
/// ACK cumulative and has the leader answer a learner's `Hello` with its own.
pub const PROTOCOL_VERSION: u32 = 3;
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// The first version whose learners understand `Logged`.
pub const LOGGED_SINCE: u32 = 2;
/// The first version whose learners take a COMMIT as committing every proposal up to it, and
/// whose leaders take an ACK as acknowledging every proposal up to it (so a learner ACKs only
/// the last proposal of each fsync to such a leader: it learns the leader's version from the
/// leader's `Hello`).
pub const CUMULATIVE_SINCE: u32 = 3;

const _: () = assert!(LOGGED_SINCE <= PROTOCOL_VERSION && MIN_PROTOCOL_VERSION <= LOGGED_SINCE);
const _: () = assert!(LOGGED_SINCE <= CUMULATIVE_SINCE && CUMULATIVE_SINCE <= PROTOCOL_VERSION);

/// `AckEpoch.current_epoch` of a learner that had accepted the proposed epoch already: one
/// learner must never count towards the same epoch for two leaders. Sent to leaders of
/// protocol 3 on ([`CUMULATIVE_SINCE`]); older ones get the learner's current epoch.
pub const EPOCH_ALREADY_ACCEPTED: u32 = u32::MAX;

/// Whether a peer naming `version` in its Hello can talk to this server.
pub fn supported_version(version: u32) -> bool {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version)
}
/// Largest peer frame (snapshot chunks are split below it).
pub const MAX_PEER_FRAME: usize = 64 << 20;

/// W3C trace context of the write a message carries (empty when not traced).
pub type TraceContext = String;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// First message on every connection.
    Hello {
        version: u32,
        sid: u64,
    },
    /// Fast leader election.
    Notification(Notification),
    /// Learner -> leader: who I am and where my history ends (FOLLOWERINFO / OBSERVERINFO).
    LearnerInfo {
        sid: u64,
        observer: bool,
        accepted_epoch: u32,
        last_zxid: i64,
    },
    /// Leader -> learner: the epoch it proposes.
    LeaderInfo {
        new_epoch: u32,
    },
    /// Learner -> leader: epoch accepted; its current epoch and last zxid. `current_epoch`
    /// [`EPOCH_ALREADY_ACCEPTED`]: it had accepted this epoch before (from this or another
    /// leader), so it follows without counting towards the epoch's quorum (ZooKeeper's -1).
    AckEpoch {
        current_epoch: u32,
        last_zxid: i64,
    },
    /// Sync: proposals follow (DIFF), after dropping everything past `zxid` (TRUNC), or a
    /// whole tree follows in chunks (SNAP).
    Diff {
        zxid: i64,
    },
    Trunc {
        zxid: i64,
    },
    Snap {
        zxid: i64,
    },
    SnapChunk(Vec<crate::storage::snapshot::SnapNode>),
    SnapSessions(Vec<(i64, i32)>),
    /// End of the sync stream: the learner persists, then acks this.
    NewLeader {
        zxid: i64,
    },
    /// The learner may serve clients.
    UpToDate,
    Proposal {
        txn: Txn,
        trace: TraceContext,
    },
    Ack {
        zxid: i64,
    },
    Commit {
        zxid: i64,
        trace: TraceContext,
    },
    /// To observers: an already committed txn.
    Inform {
        txn: Txn,
        trace: TraceContext,
    },
    /// Learner -> leader: a client write to prepare.
    Request {
        session: i64,
        cxid: i32,
        opcode: i32,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
        auth: Vec<Id>,
        is_super: bool,
        trace: TraceContext,
    },
    /// Liveness both ways; the learner's carries the sessions its clients touched.
    Ping {
        zxid: i64,
        touches: Vec<(i64, i32)>,
    },
    Revalidate {
        session: i64,
        timeout: i32,
    },
    RevalidateReply {
        session: i64,
        valid: bool,
    },
    /// A learner client's `sync`: answered once everything the leader proposed before is
    /// committed.
    Sync {
        session: i64,
    },
    SyncDone {
        session: i64,
    },
    /// Leader -> voting learner (version >= 2): the leader's log has every proposal up to
    /// `zxid` on disk. Sent by its log writer after each fsync, so that a learner for which it
    /// and the leader form a quorum can apply a proposal once its own copy is durable, without
    /// waiting for the COMMIT (in a 3-server ensemble: one network hop less per write).
    Logged {
        zxid: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PeerCodecError {
    #[error("peer frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("undecodable peer frame: {0}")]
    Decode(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Append one length-prefixed frame of `msg` to `out`, serialising in place (no intermediate
/// buffer: on a leader every proposal is encoded once per learner, on the hot path). On error
/// `out` is left as it was.
pub fn encode_frame(msg: &PeerMessage, out: &mut Vec<u8>) -> Result<(), PeerCodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    if let Err(e) = rmp_serde::encode::write(out, msg) {
        out.truncate(start);
        return Err(PeerCodecError::Decode(e.to_string()));
    }
    let len = out.len() - start - 4;
    if len > MAX_PEER_FRAME {
        out.truncate(start);
        return Err(PeerCodecError::TooLarge(len));
    }
    out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

#[derive(Default)]
pub struct PeerCodec;

/// Most that a partial frame makes the decoder reserve ahead of the bytes.
const READ_AHEAD: usize = 64 << 10;

impl Decoder for PeerCodec {
    type Item = PeerMessage;
    type Error = PeerCodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<PeerMessage>, PeerCodecError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > MAX_PEER_FRAME {
            return Err(PeerCodecError::TooLarge(len));
        }
        if src.len() < 4 + len {
            // Room for what arrives next, not for the whole announced frame: a length prefix
            // alone must not make the server allocate that much (memory follows the bytes a
            // peer really sent).
            src.reserve((4 + len - src.len()).min(READ_AHEAD));
            return Ok(None);
        }
        src.advance(4);
        let body = src.split_to(len);
        rmp_serde::from_slice(&body)
            .map(Some)
            .map_err(|e| PeerCodecError::Decode(e.to_string()))
    }
}

impl Encoder<PeerMessage> for PeerCodec {
    type Error = PeerCodecError;
    fn encode(&mut self, item: PeerMessage, dst: &mut BytesMut) -> Result<(), PeerCodecError> {
        let mut frame = Vec::new();
        encode_frame(&item, &mut frame)?;
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoding in place gives the same bytes as length + `rmp_serde::to_vec` (what older
    /// servers send and expect), and frames decode back.
    #[test]
    fn in_place_frames_are_byte_for_byte_the_old_encoding() {
        let msgs = [
            PeerMessage::Ack {
                zxid: 0x1_0000_0005,
            },
            PeerMessage::Hello {
                version: PROTOCOL_VERSION,
                sid: 3,
            },
        ];
        let mut out = b"already here".to_vec();
        for m in &msgs {
            encode_frame(m, &mut out).unwrap();
        }
        let mut old = b"already here".to_vec();
        for m in &msgs {
            let body = rmp_serde::to_vec(m).unwrap();
            old.extend_from_slice(&(body.len() as u32).to_be_bytes());
            old.extend_from_slice(&body);
        }
        assert_eq!(out, old);
        let mut buf = BytesMut::from(&out[12..]);
        for m in &msgs {
            let got = PeerCodec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(format!("{got:?}"), format!("{m:?}"));
        }
    }
    use crate::datatree::TxnOp;
    use crate::proto::vote::{PeerState, Vote};

    #[test]
    fn versions_accepted() {
        assert!(supported_version(1) && supported_version(PROTOCOL_VERSION));
        assert!(!supported_version(0) && !supported_version(PROTOCOL_VERSION + 1));
    }

    #[test]
    fn round_trip_and_limits() {
        let msgs = vec![
            PeerMessage::Hello { version: 1, sid: 3 },
            PeerMessage::Logged { zxid: 1 << 32 },
            PeerMessage::Notification(Notification {
                version: 2,
                vote: Vote {
                    leader: 3,
                    zxid: 5,
                    peer_epoch: 1,
                },
                round: 4,
                state: PeerState::Looking,
                sid: 3,
            }),
            PeerMessage::Proposal {
                txn: Txn {
                    session: 1,
                    cxid: 2,
                    zxid: 3,
                    time: 4,
                    op: TxnOp::Delete { path: "/a".into() }.into(),
                },
                trace: "00-abc-def-01".into(),
            },
        ];
        let mut buf = BytesMut::new();
        for m in &msgs {
            PeerCodec.encode(m.clone(), &mut buf).unwrap();
        }
        for m in &msgs {
            assert_eq!(PeerCodec.decode(&mut buf).unwrap().as_ref(), Some(m));
        }
        assert!(PeerCodec.decode(&mut buf).unwrap().is_none());
        let mut bad = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(PeerCodec.decode(&mut bad).is_err());
        let mut junk = BytesMut::from(&[0, 0, 0, 2, 0xc1, 0xc1][..]);
        assert!(matches!(
            PeerCodec.decode(&mut junk),
            Err(PeerCodecError::Decode(_))
        ));
    }
}
