//! Typed records of the ZooKeeper client protocol (zookeeper.jute), with their encodings.

use super::primitives::{DecodeError, DecodeResult, JuteWrite, Reader};
use serde::{Deserialize, Serialize};

/// Opcodes (ZooDefs.OpCode).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;

    /// The four-letter tag that `cons` shows for the last operation of a connection.
    pub fn tag(op: i32) -> &'static str {
        match op {
            PING => "PING",
            CREATE_SESSION => "SESS",
            CREATE | CREATE2 | CREATE_CONTAINER | CREATE_TTL => "CREA",
            DELETE => "DELE",
            SET_DATA => "SETD",
            GET_DATA => "GETD",
            GET_CHILDREN | GET_CHILDREN2 => "GETC",
            EXISTS => "EXIS",
            GET_ACL => "GETA",
            SET_ACL => "SETA",
            SYNC => "SYNC",
            MULTI => "MULT",
            MULTI_READ => "MLTR",
            CLOSE_SESSION => "CLOS",
            CHECK => "CHEC",
            SET_WATCHES => "SETW",
            SET_WATCHES2 => "STW2",
            ADD_WATCH => "ADDW",
            CHECK_WATCHES => "CHKW",
            REMOVE_WATCHES => "REMW",
            WHO_AM_I => "HOMI",
            GET_EPHEMERALS => "GETE",
            GET_ALL_CHILDREN_NUMBER => "GETACN",
            RECONFIG => "RECO",
            _ => "NA",
        }
    }
}

/// Special xids.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// Permission bits.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// Watch event types and keeper states (Watcher.Event).
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const STATE_SYNC_CONNECTED: i32 = 3;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Self {
        Id {
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        Ok(Id {
            scheme: r.ustring()?,
            id: r.ustring()?,
        })
    }
    pub fn write(&self, w: &mut Vec<u8>) {
        w.put_str(&self.scheme);
        w.put_str(&self.id);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Self {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }
    pub fn world_all() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "world", "anyone")]
    }
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        Ok(Acl {
            perms: r.i32()?,
            id: Id::read(r)?,
        })
    }
    pub fn write(&self, w: &mut Vec<u8>) {
        w.put_i32(self.perms);
        self.id.write(w);
    }
}

pub fn read_acls(r: &mut Reader) -> DecodeResult<Vec<Acl>> {
    r.vec(Acl::read)
}

pub fn write_acls(w: &mut Vec<u8>, acls: &[Acl]) {
    w.put_i32(acls.len() as i32);
    for a in acls {
        a.write(w);
    }
}

/// The client-visible Stat (68 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn write(&self, w: &mut Vec<u8>) {
        w.put_i64(self.czxid);
        w.put_i64(self.mzxid);
        w.put_i64(self.ctime);
        w.put_i64(self.mtime);
        w.put_i32(self.version);
        w.put_i32(self.cversion);
        w.put_i32(self.aversion);
        w.put_i64(self.ephemeral_owner);
        w.put_i32(self.data_length);
        w.put_i32(self.num_children);
        w.put_i64(self.pzxid);
    }
    pub fn read(r: &mut Reader) -> DecodeResult<Self> {
        Ok(Stat {
            czxid: r.i64()?,
            mzxid: r.i64()?,
            ctime: r.i64()?,
            mtime: r.i64()?,
            version: r.i32()?,
            cversion: r.i32()?,
            aversion: r.i32()?,
            ephemeral_owner: r.i64()?,
            data_length: r.i32()?,
            num_children: r.i32()?,
            pzxid: r.i64()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// None for pre-3.4 clients that omit the trailing byte.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn read(buf: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(buf);
        let req = ConnectRequest {
            protocol_version: r.i32()?,
            last_zxid_seen: r.i64()?,
            timeout: r.i32()?,
            session_id: r.i64()?,
            passwd: r.buffer()?.unwrap_or_default(),
            read_only: if r.remaining() > 0 {
                Some(r.bool()?)
            } else {
                None
            },
        };
        Ok(req)
    }
    pub fn write(&self, w: &mut Vec<u8>) {
        w.put_i32(self.protocol_version);
        w.put_i64(self.last_zxid_seen);
        w.put_i32(self.timeout);
        w.put_i64(self.session_id);
        w.put_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.put_bool(ro);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: [u8; 16],
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn expired(read_only: Option<bool>) -> Self {
        ConnectResponse {
            timeout: 0,
            session_id: 0,
            passwd: [0; 16],
            read_only: read_only.map(|_| false),
        }
    }
    pub fn write(&self, w: &mut Vec<u8>) {
        w.put_i32(0);
        w.put_i32(self.timeout);
        w.put_i64(self.session_id);
        w.put_buffer(Some(&self.passwd));
        if let Some(ro) = self.read_only {
            w.put_bool(ro);
        }
    }
}

/// The kinds of create, by opcode and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub opcode: i32,
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Create(CreateRequest),
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// deleteContainer (20): the body is the raw path, no length prefix.
    DeleteContainer {
        path: String,
    },
}

impl WriteOp {
    pub fn opcode(&self) -> i32 {
        match self {
            WriteOp::Create(c) => c.opcode,
            WriteOp::Delete { .. } => op::DELETE,
            WriteOp::SetData { .. } => op::SET_DATA,
            WriteOp::SetAcl { .. } => op::SET_ACL,
            WriteOp::Check { .. } => op::CHECK,
            WriteOp::DeleteContainer { .. } => op::DELETE_CONTAINER,
        }
    }
    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create(c) => &c.path,
            WriteOp::Delete { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::SetAcl { path, .. }
            | WriteOp::Check { path, .. }
            | WriteOp::DeleteContainer { path } => path,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetData { path: String },
    GetChildren { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// A decoded client request (after the RequestHeader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Write(WriteOp),
    Multi(Vec<WriteOp>),
    MultiRead(Vec<ReadOp>),
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
        with_stat: bool,
    },
    GetAcl {
        path: String,
    },
    Sync {
        path: String,
    },
    Ping,
    CloseSession,
    SetWatches(SetWatches),
    AddWatch {
        path: String,
        mode: i32,
    },
    CheckWatches {
        path: String,
        kind: i32,
    },
    RemoveWatches {
        path: String,
        kind: i32,
    },
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    WhoAmI,
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    /// An opcode this server does not serve (reconfig, sasl, unknown).
    Unsupported(i32),
    /// A known opcode whose body did not decode: answered with MarshallingError.
    Malformed(i32),
}

/// Opcodes that go through the txn log even when they fail.
pub fn is_write_opcode(opcode: i32) -> bool {
    matches!(
        opcode,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::SET_DATA
            | op::SET_ACL
            | op::CHECK
            | op::MULTI
            | op::RECONFIG
    )
}

fn read_create(r: &mut Reader, opcode: i32) -> DecodeResult<CreateRequest> {
    let path = r.ustring()?;
    let data = r.buffer()?;
    let acl = read_acls(r)?;
    let flags = r.i32()?;
    let ttl = if opcode == op::CREATE_TTL {
        r.i64()?
    } else {
        -1
    };
    Ok(CreateRequest {
        opcode,
        path,
        data,
        acl,
        flags,
        ttl,
    })
}

fn read_write_op(r: &mut Reader, opcode: i32) -> DecodeResult<WriteOp> {
    Ok(match opcode {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            WriteOp::Create(read_create(r, opcode)?)
        }
        op::DELETE => WriteOp::Delete {
            path: r.ustring()?,
            version: r.i32()?,
        },
        op::SET_DATA => WriteOp::SetData {
            path: r.ustring()?,
            data: r.buffer()?,
            version: r.i32()?,
        },
        op::SET_ACL => WriteOp::SetAcl {
            path: r.ustring()?,
            acl: read_acls(r)?,
            version: r.i32()?,
        },
        op::CHECK => WriteOp::Check {
            path: r.ustring()?,
            version: r.i32()?,
        },
        other => {
            return Err(DecodeError::Invalid(format!(
                "opcode {other} is not allowed in multi"
            )))
        }
    })
}

/// MultiHeader: `int type, boolean done, int err`.
fn read_multi_header(r: &mut Reader) -> DecodeResult<(i32, bool, i32)> {
    Ok((r.i32()?, r.bool()?, r.i32()?))
}

fn read_multi(r: &mut Reader) -> DecodeResult<Request> {
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    loop {
        let (t, done, _) = read_multi_header(r)?;
        if done {
            break;
        }
        match t {
            op::GET_DATA => reads.push(ReadOp::GetData {
                path: {
                    let p = r.ustring()?;
                    r.bool()?;
                    p
                },
            }),
            op::GET_CHILDREN => reads.push(ReadOp::GetChildren {
                path: {
                    let p = r.ustring()?;
                    r.bool()?;
                    p
                },
            }),
            _ => writes.push(read_write_op(r, t)?),
        }
        if !reads.is_empty() && !writes.is_empty() {
            return Err(DecodeError::Invalid(
                "multi mixes read and write operations".into(),
            ));
        }
    }
    Ok(if reads.is_empty() {
        Request::Multi(writes)
    } else {
        Request::MultiRead(reads)
    })
}

impl Request {
    /// Decode the body of a request with the given opcode.
    pub fn read(opcode: i32, body: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(body);
        let req = match opcode {
            op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::SET_ACL
            | op::CHECK => Request::Write(read_write_op(&mut r, opcode)?),
            op::DELETE_CONTAINER => Request::Write(WriteOp::DeleteContainer {
                path: String::from_utf8_lossy(body).into_owned(),
            }),
            op::MULTI => match read_multi(&mut r)? {
                Request::MultiRead(_) => {
                    return Err(DecodeError::Invalid("multi carries read operations".into()))
                }
                m => m,
            },
            op::MULTI_READ => match read_multi(&mut r)? {
                Request::Multi(w) if !w.is_empty() => {
                    return Err(DecodeError::Invalid(
                        "multiRead carries write operations".into(),
                    ))
                }
                Request::Multi(_) => Request::MultiRead(Vec::new()),
                m => m,
            },
            op::EXISTS => Request::Exists {
                path: r.ustring()?,
                watch: r.bool()?,
            },
            op::GET_DATA => Request::GetData {
                path: r.ustring()?,
                watch: r.bool()?,
            },
            op::GET_CHILDREN | op::GET_CHILDREN2 => Request::GetChildren {
                path: r.ustring()?,
                watch: r.bool()?,
                with_stat: opcode == op::GET_CHILDREN2,
            },
            op::GET_ACL => Request::GetAcl { path: r.ustring()? },
            op::SYNC => Request::Sync { path: r.ustring()? },
            op::PING => Request::Ping,
            op::CLOSE_SESSION => Request::CloseSession,
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let mut sw = SetWatches {
                    relative_zxid: r.i64()?,
                    data: r.strings()?,
                    exist: r.strings()?,
                    child: r.strings()?,
                    ..Default::default()
                };
                if opcode == op::SET_WATCHES2 {
                    sw.persistent = r.strings()?;
                    sw.persistent_recursive = r.strings()?;
                }
                Request::SetWatches(sw)
            }
            op::ADD_WATCH => Request::AddWatch {
                path: r.ustring()?,
                mode: r.i32()?,
            },
            op::CHECK_WATCHES => Request::CheckWatches {
                path: r.ustring()?,
                kind: r.i32()?,
            },
            op::REMOVE_WATCHES => Request::RemoveWatches {
                path: r.ustring()?,
                kind: r.i32()?,
            },
            op::GET_EPHEMERALS => Request::GetEphemerals {
                prefix: r.ustring()?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: r.ustring()? },
            op::WHO_AM_I => Request::WhoAmI,
            op::AUTH => {
                let _type = r.i32()?;
                Request::Auth {
                    scheme: r.ustring()?,
                    auth: r.buffer()?.unwrap_or_default(),
                }
            }
            other => Request::Unsupported(other),
        };
        Ok(req)
    }
}

/// Encoders for requests, used by `keeper bench` and tests.
pub fn write_request_header(w: &mut Vec<u8>, xid: i32, opcode: i32) {
    w.put_i32(xid);
    w.put_i32(opcode);
}

pub fn write_reply_header(w: &mut Vec<u8>, xid: i32, zxid: i64, err: i32) {
    w.put_i32(xid);
    w.put_i64(zxid);
    w.put_i32(err);
}

pub fn write_watcher_event(w: &mut Vec<u8>, typ: i32, state: i32, path: &str) {
    w.put_i32(typ);
    w.put_i32(state);
    w.put_str(path);
}

pub fn write_multi_header(w: &mut Vec<u8>, typ: i32, done: bool, err: i32) {
    w.put_i32(typ);
    w.put_bool(done);
    w.put_i32(err);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_with_and_without_read_only() {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 5,
            timeout: 30000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let mut w = Vec::new();
        req.write(&mut w);
        assert_eq!(w.len(), 45);
        assert_eq!(ConnectRequest::read(&w).unwrap(), req);
        let old = ConnectRequest {
            read_only: None,
            ..req
        };
        let mut w = Vec::new();
        old.write(&mut w);
        assert_eq!(w.len(), 44);
        assert_eq!(ConnectRequest::read(&w).unwrap().read_only, None);
    }

    #[test]
    fn connect_response_is_37_bytes_with_read_only() {
        let mut w = Vec::new();
        ConnectResponse::expired(Some(false)).write(&mut w);
        assert_eq!(w.len(), 37);
    }

    #[test]
    fn multi_decodes_and_rejects_mixed() {
        let mut w = Vec::new();
        write_multi_header(&mut w, op::CREATE, false, -1);
        w.put_str("/a");
        w.put_buffer(Some(b"x"));
        write_acls(&mut w, &Acl::world_all());
        w.put_i32(0);
        write_multi_header(&mut w, op::CHECK, false, -1);
        w.put_str("/a");
        w.put_i32(3);
        write_multi_header(&mut w, -1, true, -1);
        match Request::read(op::MULTI, &w).unwrap() {
            Request::Multi(ops) => {
                assert_eq!(ops.len(), 2);
                assert_eq!(
                    ops[1],
                    WriteOp::Check {
                        path: "/a".into(),
                        version: 3
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let mut m = Vec::new();
        write_multi_header(&mut m, op::GET_DATA, false, -1);
        m.put_str("/a");
        m.put_bool(false);
        write_multi_header(&mut m, op::DELETE, false, -1);
        m.put_str("/a");
        m.put_i32(-1);
        write_multi_header(&mut m, -1, true, -1);
        assert!(Request::read(op::MULTI_READ, &m).is_err());
    }

    #[test]
    fn unknown_opcode_is_unsupported() {
        assert_eq!(Request::read(999, &[]).unwrap(), Request::Unsupported(999));
        assert_eq!(
            Request::read(op::RECONFIG, &[]).unwrap(),
            Request::Unsupported(op::RECONFIG)
        );
    }
}
