//! Tests of the engine: `standalone` one server alone, `quorum` a leader and a learner wired in
//! memory.

mod quorum;
mod standalone;

use super::*;
use crate::codec::jute::{
    op, Acl, ConnectRequest, CreateRequest, JuteWrite, Reader, Request, WriteOp,
};
use crate::datatree::TxnOp;
use crate::error::Code;

fn engine() -> Engine {
    engine_of(0)
}

fn engine_of(server_id: u64) -> Engine {
    Engine::new(
        EngineConfig {
            server_id,
            min_session_timeout: 4000,
            max_session_timeout: 40000,
            super_digest: String::new(),
            extended_types: false,
        },
        1_700_000_000_000,
    )
}

fn connect(e: &mut Engine, conn: ConnId) -> i64 {
    e.connected(conn, "127.0.0.1", 0);
    let outs = e.connect(
        conn,
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout: 1000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        },
        0,
    );
    assert!(matches!(outs[..], [Out::Persist(_)]));
    let outs = e.durable(e.last_assigned(), 0);
    outs.iter()
        .find_map(|o| match o {
            Out::Track(id, 4000) => Some(*id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{outs:?}"))
}

fn sends(outs: &[Out]) -> Vec<(ConnId, Vec<u8>)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Send(c, b) | Out::Reply(c, b) => Some((*c, b.to_vec())),
            _ => None,
        })
        .collect()
}

fn create(path: &str) -> Request {
    Request::Write(WriteOp::Create(CreateRequest {
        opcode: op::CREATE,
        path: path.into(),
        data: None,
        acl: Acl::world_all(),
        flags: 0,
        ttl: -1,
    }))
}
