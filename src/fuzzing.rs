//! The bodies of the fuzz targets (`fuzz/fuzz_targets`, run by `make fuzz`), here so that plain
//! `cargo test` replays their seeds and every input a fuzzer ever crashed (`tests/fuzz.rs`).
//!
//! Each takes arbitrary bytes, as a client, a peer or a damaged disk could hand them to the
//! server, and must return: no panic, no hang, no allocation far beyond its input. An error is
//! the expected answer to garbage.

use crate::codec::jute::frame::{Frame, FrameCodec};
use crate::codec::jute::{ConnectRequest, Request};
use crate::codec::peer::{PeerCodec, PeerMessage};
use crate::datatree::{Txn, TxnOp};
use crate::storage::{put_frame, recovery, snapshot, txn_log};
use bytes::BytesMut;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::codec::Decoder;

/// The fuzz targets, by name (each a file of `fuzz/fuzz_targets`).
pub const TARGETS: &[&str] = &[
    "client_frames",
    "peer_messages",
    "log_segment",
    "snapshot",
    "config",
    "tree_model",
];

/// Run target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "client_frames" => client_frames(data),
        "peer_messages" => peer_messages(data),
        "log_segment" => log_segment(data),
        "snapshot" => snapshot(data),
        "config" => config(data),
        "tree_model" => tree_model(data),
        _ => panic!("no fuzz target {name}"),
    }
}

/// The client port: a byte stream cut into frames (the first byte says in what pieces it
/// arrives), each frame decoded as a connect request and as a request after its header.
pub fn client_frames(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split % 64) + 1;
    let mut codec = FrameCodec::new(1 << 20);
    let mut buf = BytesMut::new();
    for p in stream.chunks(piece) {
        buf.extend_from_slice(p);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Packet(body))) => {
                    let _ = ConnectRequest::read(&body);
                    if body.len() >= 8 {
                        let opcode = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                        let _ = Request::read(opcode, &body[8..]);
                    }
                }
                Ok(Some(Frame::FourLetter(_))) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// The quorum and election ports: length-prefixed MessagePack frames, and a payload alone.
pub fn peer_messages(data: &[u8]) {
    let mut codec = PeerCodec;
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let _ = rmp_serde::from_slice::<PeerMessage>(data);
}

/// Payloads from `data`: each a 2-byte length then that many bytes (what is left at the end).
fn payloads(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        out.push(&data[2..2 + n]);
        data = &data[2 + n..];
    }
    out
}

/// A scratch directory of this process, emptied for each input.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("keeper-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// A transaction log segment as a crash or a bad disk could leave it. First byte: bit 0 set,
/// the rest is payloads framed with valid CRCs (so that they reach the txn decoder, and
/// recovery applies what decodes to a tree); clear, the rest is the file. Bit 1: whether it is
/// the newest segment (a torn tail is cut there, an error anywhere else).
pub fn log_segment(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 1 {
        let mut f = txn_log::header().to_vec();
        for p in payloads(rest) {
            put_frame(&mut f, p);
        }
        f
    } else {
        rest.to_vec()
    };
    let _ = rmp_serde::from_slice::<Txn>(rest);
    let dir = scratch();
    let path = dir.join(txn_log::segment_name(1));
    std::fs::write(&path, &file).expect("write the segment");
    let _ = txn_log::scan_segment(&path, mode & 2 == 2, |_| {});
    if mode & 4 == 4 {
        let _ = recovery::recover(&dir, &dir, Default::default());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A snapshot file, framed as [`log_segment`] frames its payloads (bit 0 of the first byte),
/// loaded, and recovered from when it loads.
pub fn snapshot(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 1 {
        let mut f = snapshot::MAGIC.to_vec();
        f.extend_from_slice(&snapshot::FORMAT_VERSION.to_be_bytes());
        for p in payloads(rest) {
            put_frame(&mut f, p);
        }
        f
    } else {
        rest.to_vec()
    };
    let dir = scratch();
    let path = dir.join(snapshot::snapshot_name(0));
    std::fs::write(&path, &file).expect("write the snapshot");
    if snapshot::load(&path).is_ok() {
        let _ = recovery::recover(&dir, &dir, Default::default());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A configuration file: a zoo.cfg (first byte even) or a Keeper TOML file (odd), through
/// every layer as `keeper server --config` reads it.
pub fn config(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let name = if kind & 1 == 0 {
        "zoo.cfg"
    } else {
        "keeper.toml"
    };
    let dir = scratch();
    let path = dir.join(name);
    std::fs::write(&path, rest).expect("write the configuration");
    let _ = crate::settings::load(&crate::settings::LoadOptions {
        config_file: Some(path),
        sets: Vec::new(),
        env: Vec::new(),
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The data tree against a model: a sequence of creates, deletes and setData on a few related
/// paths (3 bytes each: kind, path, version and data), each validated as a write is (prep sees
/// the changes of the writes validated before it and not yet applied) and compared with what
/// ZooKeeper answers (NoNode, NodeExists, BadVersion, NotEmpty); a fourth kind applies the
/// prepared txns in order, after which the tree must hold exactly what the model does.
pub fn tree_model(data: &[u8]) {
    use crate::codec::jute::{Acl, CreateRequest, WriteOp};
    use crate::datatree::acl::AuthInfo;
    use crate::datatree::{Caller, DataTree, Outstanding, Prep};
    use crate::error::Code;
    use std::collections::BTreeMap;

    const PATHS: [&str; 6] = ["/a", "/a/b", "/a/b/c", "/b", "/b/x", "/a/c"];
    let parent = |p: &str| match p.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => p[..i].to_string(),
        None => String::new(),
    };
    let mut tree = DataTree::default();
    let mut out = Outstanding::default();
    let mut pending: Vec<Txn> = Vec::new();
    // Path -> (data, version), as ZooKeeper would have it once everything prepared is applied.
    let mut model: BTreeMap<&str, (Vec<u8>, i32)> = BTreeMap::new();
    let auth = AuthInfo::default();
    let caller = Caller {
        session: 0,
        auth: &auth,
    };
    let mut zxid = 0x1_0000_0000i64;
    let check = |tree: &DataTree, model: &BTreeMap<&str, (Vec<u8>, i32)>| {
        for p in PATHS {
            let node = tree.get(p);
            let want = model.get(p);
            assert_eq!(node.is_some(), want.is_some(), "{p} exists");
            if let (Some(n), Some((d, v))) = (node, want) {
                assert_eq!(n.data.as_deref().unwrap_or(&[]), d.as_slice(), "{p} data");
                assert_eq!(n.stat.version, *v, "{p} version");
                let kids = model.keys().filter(|k| parent(k) == p).count();
                assert_eq!(n.children.len(), kids, "{p} children");
            }
        }
    };
    let flush = |tree: &mut DataTree, out: &mut Outstanding, pending: &mut Vec<Txn>| {
        for t in pending.drain(..) {
            tree.apply(&t);
            out.applied(t.zxid);
        }
    };
    for c in data.chunks_exact(3) {
        let path = PATHS[usize::from(c[1]) % PATHS.len()];
        let version = if c[2] & 0x80 != 0 {
            -1
        } else {
            i32::from(c[2] & 3)
        };
        let value = vec![c[2]];
        let w = match c[0] % 4 {
            0 => WriteOp::Create(CreateRequest {
                opcode: crate::codec::jute::op::CREATE,
                path: path.to_string(),
                data: Some(value.clone()),
                acl: vec![Acl::new(crate::codec::jute::perms::ALL, "world", "anyone")],
                flags: 0,
                ttl: 0,
            }),
            1 => WriteOp::Delete {
                path: path.to_string(),
                version,
            },
            2 => WriteOp::SetData {
                path: path.to_string(),
                data: Some(value.clone()),
                version,
            },
            _ => {
                flush(&mut tree, &mut out, &mut pending);
                check(&tree, &model);
                continue;
            }
        };
        // ZooKeeper's order of checks (PrepRequestProcessor): the node (or its parent),
        // then the version, then the children.
        let exists = model.contains_key(path);
        let version_ok = |m: &BTreeMap<&str, (Vec<u8>, i32)>| {
            version == -1 || m.get(path).map(|(_, v)| *v) == Some(version)
        };
        let want: Result<(), Code> = match &w {
            WriteOp::Create(_) => {
                let p = parent(path);
                if p != "/" && !model.contains_key(p.as_str()) {
                    Err(Code::NoNode)
                } else if exists {
                    Err(Code::NodeExists)
                } else {
                    model.insert(path, (value.clone(), 0));
                    Ok(())
                }
            }
            WriteOp::Delete { .. } => {
                if !exists {
                    Err(Code::NoNode)
                } else if !version_ok(&model) {
                    Err(Code::BadVersion)
                } else if model.keys().any(|k| parent(k) == path) {
                    Err(Code::NotEmpty)
                } else {
                    model.remove(path);
                    Ok(())
                }
            }
            _ => {
                if !exists {
                    Err(Code::NoNode)
                } else if !version_ok(&model) {
                    Err(Code::BadVersion)
                } else {
                    let e = model.get_mut(path).expect("exists");
                    *e = (value.clone(), e.1 + 1);
                    Ok(())
                }
            }
        };
        let got = Prep {
            tree: &tree,
            out: &mut out,
        }
        .op(&w, &caller, zxid + 1, 0);
        assert_eq!(got.as_ref().map(|_| ()).map_err(|c| *c), want, "{w:?}");
        if let Ok(op) = got {
            zxid += 1;
            pending.push(Txn {
                session: 0,
                cxid: 0,
                zxid,
                time: 0,
                op: Arc::new(op),
            });
        }
    }
    flush(&mut tree, &mut out, &mut pending);
    check(&tree, &model);
}

/// Inputs to start each target from: what the server really reads, encoded by its own
/// encoders (the client port's come from `tests/golden`, see `tests/fuzz.rs`).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let txns = sample_txns();
    match name {
        "peer_messages" => {
            let msgs = [
                PeerMessage::Hello { version: 3, sid: 2 },
                PeerMessage::Proposal {
                    txn: txns[1].clone(),
                    trace: String::new(),
                },
                PeerMessage::Commit {
                    zxid: txns[1].zxid,
                    trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                },
                PeerMessage::Ack { zxid: txns[1].zxid },
                PeerMessage::Diff { zxid: 7 },
                PeerMessage::UpToDate,
            ];
            msgs.iter()
                .map(|m| {
                    let mut f = Vec::new();
                    crate::codec::peer::encode_frame(m, &mut f).expect("encode");
                    f
                })
                .collect()
        }
        "log_segment" => {
            let mut framed = vec![1u8 | 2 | 4];
            for t in &txns {
                let p = rmp_serde::to_vec(t).expect("encode");
                framed.extend_from_slice(&(p.len() as u16).to_be_bytes());
                framed.extend_from_slice(&p);
            }
            let mut raw = vec![2u8];
            raw.extend_from_slice(&txn_log::header());
            for t in &txns {
                let mut b = Vec::new();
                txn_log::encode(t, &mut b);
                raw.extend_from_slice(&b);
            }
            vec![framed, raw]
        }
        "snapshot" => {
            let dir = scratch();
            let mut tree = crate::datatree::DataTree::default();
            for t in &txns {
                tree.apply(t);
            }
            let path = recovery::write_full_snapshot(&dir, &tree).expect("write a snapshot");
            let mut raw = vec![0u8];
            raw.extend(std::fs::read(&path).expect("read the snapshot"));
            let _ = std::fs::remove_dir_all(&dir);
            vec![raw]
        }
        "config" => {
            let zoo = "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
                       server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:observer\n\
                       4lw.commands.whitelist=*\n";
            let mut a = vec![0u8];
            a.extend_from_slice(zoo.as_bytes());
            let mut b = vec![1u8];
            b.extend_from_slice(crate::settings::DEFAULT_TOML.as_bytes());
            vec![a, b]
        }
        // Build a little tree, change it, empty it, with applies in between.
        "tree_model" => vec![
            vec![
                0, 0, 1, 0, 1, 1, 3, 0, 0, 2, 1, 0x81, 1, 0, 0x80, 1, 1, 1, 3, 0, 0, 1, 0, 0x80,
            ],
            vec![
                0, 3, 5, 0, 4, 6, 2, 3, 0, 1, 3, 0, 1, 4, 0x80, 3, 0, 0, 1, 3, 1,
            ],
        ],
        _ => Vec::new(),
    }
}

fn sample_txns() -> Vec<Txn> {
    let txn = |zxid: i64, op: TxnOp| Txn {
        session: 0x1000_0000_0000_0001,
        cxid: zxid as i32,
        zxid,
        time: 1_700_000_000_000,
        op: Arc::new(op),
    };
    vec![
        txn(0x1_0000_0001, TxnOp::CreateSession { timeout: 30000 }),
        txn(
            0x1_0000_0002,
            TxnOp::Create {
                path: "/a".into(),
                data: Some(b"x".to_vec()),
                acl: vec![crate::codec::jute::Acl::new(
                    crate::codec::jute::perms::ALL,
                    "world",
                    "anyone",
                )],
                ephemeral_owner: 0,
                parent_cversion: 1,
                opcode: crate::codec::jute::op::CREATE,
            },
        ),
        txn(
            0x1_0000_0003,
            TxnOp::SetData {
                path: "/a".into(),
                data: Some(b"y".to_vec()),
                version: 1,
            },
        ),
        txn(0x1_0000_0004, TxnOp::Delete { path: "/a".into() }),
        txn(0x1_0000_0005, TxnOp::CloseSession),
    ]
}
