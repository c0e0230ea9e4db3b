//! Pure protocol helpers for `keeper bench`: request frames out, replies and notifications in.
//! Everything here works on byte slices; the socket work lives in `conn`.

use crate::codec::jute::frame::{finish_frame, start_frame};
use crate::codec::jute::{
    event, op, write_acls, write_request_header, xid, Acl, ConnectRequest, DecodeError, JuteWrite,
    Reader,
};
use crate::error::Code;
use bytes::Bytes;
use thiserror::Error;

/// CreateMode flags.
pub const PERSISTENT: i32 = 0;
pub const PERSISTENT_SEQUENTIAL: i32 = 2;

/// Client-side error codes (never sent by a server, but named like ZooKeeper names them).
pub const CONNECTION_LOSS: i32 = -4;
pub const OPERATION_TIMEOUT: i32 = -7;

/// Why a connection or a request failed on the client side.
#[derive(Debug, Error)]
pub enum ProtoError {
    #[error("connection to {addr} failed: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connection to {0} timed out")]
    ConnectTimeout(String),
    #[error("session refused or expired by the server (negotiated timeout 0)")]
    SessionExpired,
    #[error("connection closed by the server")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("undecodable frame: {0}")]
    Decode(#[from] DecodeError),
    #[error("reply xid {got} does not match the oldest request in flight (xid {expected})")]
    XidMismatch { expected: i32, got: i32 },
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("server error {}", error_name(*.0))]
    Server(i32),
}

impl ProtoError {
    /// The name under which this failure is counted in a report.
    pub fn counter_name(&self) -> String {
        match self {
            ProtoError::Connect { .. } | ProtoError::ConnectTimeout(_) => "ConnectFailed".into(),
            ProtoError::SessionExpired => error_name(-112),
            ProtoError::Closed | ProtoError::Io(_) => error_name(CONNECTION_LOSS),
            ProtoError::Decode(_) | ProtoError::XidMismatch { .. } | ProtoError::Unexpected(_) => {
                "ProtocolError".into()
            }
            ProtoError::Timeout => error_name(OPERATION_TIMEOUT),
            ProtoError::Server(c) => error_name(*c),
        }
    }
}

/// `NoNode(-101)`-style name for an error code, client-side codes included.
pub fn error_name(code: i32) -> String {
    let name = match code {
        CONNECTION_LOSS => "ConnectionLoss".to_string(),
        OPERATION_TIMEOUT => "OperationTimeout".to_string(),
        -1 => "SystemError".to_string(),
        _ => match Code::from_i32(code) {
            Some(c) => format!("{c:?}"),
            None => "Error".to_string(),
        },
    };
    format!("{name}({code})")
}

/// The requests the benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req<'a> {
    Create {
        path: &'a str,
        data: &'a [u8],
        flags: i32,
    },
    Delete {
        path: &'a str,
        version: i32,
    },
    SetData {
        path: &'a str,
        data: &'a [u8],
        version: i32,
    },
    GetData {
        path: &'a str,
        watch: bool,
    },
    Exists {
        path: &'a str,
        watch: bool,
    },
    GetChildren {
        path: &'a str,
    },
    Ping,
    CloseSession,
}

impl Req<'_> {
    pub fn opcode(&self) -> i32 {
        match self {
            Req::Create { .. } => op::CREATE,
            Req::Delete { .. } => op::DELETE,
            Req::SetData { .. } => op::SET_DATA,
            Req::GetData { .. } => op::GET_DATA,
            Req::Exists { .. } => op::EXISTS,
            Req::GetChildren { .. } => op::GET_CHILDREN,
            Req::Ping => op::PING,
            Req::CloseSession => op::CLOSE_SESSION,
        }
    }
}

/// The ConnectRequest frame of a new session (45-byte body, readOnly byte included).
pub fn connect_frame(session_timeout_ms: i32) -> Bytes {
    let mut w = start_frame();
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout: session_timeout_ms,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    }
    .write(&mut w);
    finish_frame(w)
}

/// One request frame, length prefix included. Pings always travel with xid -2.
pub fn request_frame(xid: i32, req: &Req) -> Bytes {
    let mut w = start_frame();
    let xid = if matches!(req, Req::Ping) {
        xid::PING
    } else {
        xid
    };
    write_request_header(&mut w, xid, req.opcode());
    match *req {
        Req::Create { path, data, flags } => {
            w.put_str(path);
            w.put_buffer(Some(data));
            write_acls(&mut w, &Acl::world_all());
            w.put_i32(flags);
        }
        Req::Delete { path, version } => {
            w.put_str(path);
            w.put_i32(version);
        }
        Req::SetData {
            path,
            data,
            version,
        } => {
            w.put_str(path);
            w.put_buffer(Some(data));
            w.put_i32(version);
        }
        Req::GetData { path, watch } | Req::Exists { path, watch } => {
            w.put_str(path);
            w.put_bool(watch);
        }
        Req::GetChildren { path } => {
            w.put_str(path);
            w.put_bool(false);
        }
        Req::Ping | Req::CloseSession => {}
    }
    finish_frame(w)
}

/// What the server granted in its ConnectResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    pub timeout_ms: i32,
    pub session_id: i64,
}

/// Parse a ConnectResponse body; a timeout <= 0 means the session was refused.
pub fn parse_connect_response(body: &[u8]) -> Result<SessionInfo, ProtoError> {
    let mut r = Reader::new(body);
    let _protocol_version = r.i32()?;
    let timeout_ms = r.i32()?;
    let session_id = r.i64()?;
    let _passwd = r.buffer()?;
    if timeout_ms <= 0 {
        return Err(ProtoError::SessionExpired);
    }
    Ok(SessionInfo {
        timeout_ms,
        session_id,
    })
}

/// One frame from the server after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A reply: header fields and the body that follows (empty on errors).
    Reply {
        xid: i32,
        zxid: i64,
        err: i32,
        body: &'a [u8],
    },
    /// A watch notification (xid -1).
    Watch { typ: i32, state: i32, path: String },
}

pub fn parse_incoming(frame: &[u8]) -> Result<Incoming<'_>, ProtoError> {
    let mut r = Reader::new(frame);
    let xid = r.i32()?;
    let zxid = r.i64()?;
    let err = r.i32()?;
    if xid == xid::NOTIFICATION {
        let typ = r.i32()?;
        let state = r.i32()?;
        let path = r.ustring()?;
        return Ok(Incoming::Watch { typ, state, path });
    }
    Ok(Incoming::Reply {
        xid,
        zxid,
        err,
        body: r.rest(),
    })
}

/// Whether a notification is the data change of `path` that a watch round waits for.
pub fn is_data_change(inc: &Incoming, path: &str) -> bool {
    matches!(inc, Incoming::Watch { typ, path: p, .. } if *typ == event::NODE_DATA_CHANGED && p == path)
}

/// CreateResponse: the created path (with its sequence suffix).
pub fn parse_create_reply(body: &[u8]) -> Result<String, ProtoError> {
    Ok(Reader::new(body).ustring()?)
}

/// GetChildrenResponse: the child names.
pub fn parse_children_reply(body: &[u8]) -> Result<Vec<String>, ProtoError> {
    Ok(Reader::new(body).strings()?)
}

/// `/a/b/c` -> [`/a`, `/a/b`, `/a/b/c`].
pub fn ancestors_and_self(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push('/');
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

/// Join a parent path and a child name.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// A usable znode prefix: absolute, no trailing slash, not the root, no empty components.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("--prefix {prefix:?} must be an absolute path"));
    }
    if prefix == "/" || prefix.ends_with('/') || prefix.contains("//") {
        return Err(format!(
            "--prefix {prefix:?} must name a znode below / without a trailing or doubled slash"
        ));
    }
    if prefix.split('/').any(|p| p == "." || p == "..")
        || prefix == "/zookeeper"
        || prefix.starts_with("/zookeeper/")
    {
        return Err(format!("--prefix {prefix:?} is not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::jute::{write_reply_header, write_watcher_event, Request, WriteOp};

    fn body(frame: &[u8]) -> &[u8] {
        let len = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn connect_frame_is_a_45_byte_connect_request() {
        let f = connect_frame(10_000);
        let req = ConnectRequest::read(body(&f)).unwrap();
        assert_eq!(body(&f).len(), 45);
        assert_eq!(req.timeout, 10_000);
        assert_eq!(req.session_id, 0);
        assert_eq!(req.passwd, vec![0; 16]);
        assert_eq!(req.read_only, Some(false));
    }

    #[test]
    fn request_frames_decode_with_the_server_decoder() {
        let cases: Vec<(Req, Request)> = vec![
            (
                Req::SetData {
                    path: "/b/c1",
                    data: b"xyz",
                    version: -1,
                },
                Request::Write(WriteOp::SetData {
                    path: "/b/c1".into(),
                    data: Some(b"xyz".to_vec()),
                    version: -1,
                }),
            ),
            (
                Req::GetData {
                    path: "/b",
                    watch: true,
                },
                Request::GetData {
                    path: "/b".into(),
                    watch: true,
                },
            ),
            (
                Req::Exists {
                    path: "/b",
                    watch: false,
                },
                Request::Exists {
                    path: "/b".into(),
                    watch: false,
                },
            ),
            (
                Req::Delete {
                    path: "/b/s-0000000001",
                    version: -1,
                },
                Request::Write(WriteOp::Delete {
                    path: "/b/s-0000000001".into(),
                    version: -1,
                }),
            ),
            (
                Req::GetChildren { path: "/b" },
                Request::GetChildren {
                    path: "/b".into(),
                    watch: false,
                    with_stat: false,
                },
            ),
            (Req::CloseSession, Request::CloseSession),
        ];
        for (i, (req, want)) in cases.into_iter().enumerate() {
            let f = request_frame(i as i32 + 7, &req);
            let mut r = Reader::new(body(&f));
            assert_eq!(r.i32().unwrap(), i as i32 + 7);
            let opcode = r.i32().unwrap();
            assert_eq!(opcode, req.opcode());
            assert_eq!(Request::read(opcode, r.rest()).unwrap(), want);
        }
    }

    #[test]
    fn create_frame_carries_world_acl_and_flags() {
        let f = request_frame(
            3,
            &Req::Create {
                path: "/p/s-",
                data: b"v",
                flags: PERSISTENT_SEQUENTIAL,
            },
        );
        let mut r = Reader::new(body(&f));
        assert_eq!(r.i32().unwrap(), 3);
        assert_eq!(r.i32().unwrap(), op::CREATE);
        match Request::read(op::CREATE, r.rest()).unwrap() {
            Request::Write(WriteOp::Create(c)) => {
                assert_eq!(c.path, "/p/s-");
                assert_eq!(c.data, Some(b"v".to_vec()));
                assert_eq!(c.acl, Acl::world_all());
                assert_eq!(c.flags, PERSISTENT_SEQUENTIAL);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ping_always_uses_xid_minus_two() {
        let f = request_frame(42, &Req::Ping);
        assert_eq!(&f[..], &[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
    }

    #[test]
    fn connect_response_parses_and_zero_timeout_is_expired() {
        let mut w = Vec::new();
        crate::codec::jute::ConnectResponse {
            timeout: 4000,
            session_id: 0x1234,
            passwd: [7; 16],
            read_only: Some(false),
        }
        .write(&mut w);
        assert_eq!(
            parse_connect_response(&w).unwrap(),
            SessionInfo {
                timeout_ms: 4000,
                session_id: 0x1234
            }
        );
        let mut w = Vec::new();
        crate::codec::jute::ConnectResponse::expired(Some(false)).write(&mut w);
        assert!(matches!(
            parse_connect_response(&w),
            Err(ProtoError::SessionExpired)
        ));
        assert!(matches!(
            parse_connect_response(&[0, 0]),
            Err(ProtoError::Decode(_))
        ));
    }

    #[test]
    fn replies_and_notifications_are_told_apart() {
        let mut w = Vec::new();
        write_reply_header(&mut w, 5, 99, 0);
        w.put_str("/p/s-0000000003");
        match parse_incoming(&w).unwrap() {
            Incoming::Reply {
                xid,
                zxid,
                err,
                body,
            } => {
                assert_eq!((xid, zxid, err), (5, 99, 0));
                assert_eq!(parse_create_reply(body).unwrap(), "/p/s-0000000003");
            }
            other => panic!("{other:?}"),
        }
        let mut w = Vec::new();
        write_reply_header(&mut w, 6, 100, -101);
        assert_eq!(
            parse_incoming(&w).unwrap(),
            Incoming::Reply {
                xid: 6,
                zxid: 100,
                err: -101,
                body: &[]
            }
        );
        let mut w = Vec::new();
        write_reply_header(&mut w, -1, -1, 0);
        write_watcher_event(&mut w, event::NODE_DATA_CHANGED, 3, "/p/w");
        let inc = parse_incoming(&w).unwrap();
        assert!(is_data_change(&inc, "/p/w"));
        assert!(!is_data_change(&inc, "/p/x"));
        assert!(parse_incoming(&[0, 0, 0, 1]).is_err());
    }

    #[test]
    fn children_reply() {
        let mut w = Vec::new();
        w.put_strings(&["s-1", "s-2"]);
        assert_eq!(parse_children_reply(&w).unwrap(), vec!["s-1", "s-2"]);
    }

    #[test]
    fn error_names() {
        assert_eq!(error_name(-101), "NoNode(-101)");
        assert_eq!(error_name(-4), "ConnectionLoss(-4)");
        assert_eq!(error_name(-999), "Error(-999)");
        assert_eq!(ProtoError::Closed.counter_name(), "ConnectionLoss(-4)");
        assert_eq!(ProtoError::Server(-110).counter_name(), "NodeExists(-110)");
    }

    #[test]
    fn paths() {
        assert_eq!(ancestors_and_self("/a/b/c"), vec!["/a", "/a/b", "/a/b/c"]);
        assert_eq!(child_path("/a", "c0"), "/a/c0");
        assert_eq!(child_path("/", "c0"), "/c0");
        assert!(validate_prefix("/keeper-bench").is_ok());
        assert!(validate_prefix("/a/b").is_ok());
        for bad in ["", "x", "/", "/a/", "/a//b", "/zookeeper", "/a/../b"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }
}
