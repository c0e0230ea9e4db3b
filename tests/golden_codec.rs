//! The codec against frames captured from Apache ZooKeeper 3.8 (tests/golden/zk38.txt): every
//! request a real exchange sent decodes, connect requests re-encode byte for byte, and every
//! reply ZooKeeper sent parses as a reply header.

use bytes::BytesMut;
use keeper::codec::jute::frame::{Frame, FrameCodec};
use keeper::codec::jute::{op, ConnectRequest, Reader, Request};
use tokio_util::codec::Decoder;

struct Block {
    name: String,
    kind: String,
    requests: Vec<Vec<u8>>,
    responses: Vec<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn blocks() -> Vec<Block> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/zk38.txt"
    ))
    .expect("golden file");
    let mut out: Vec<Block> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# name: ") {
            out.push(Block {
                name: name.to_string(),
                kind: "jute".into(),
                requests: vec![],
                responses: vec![],
            });
        } else if let Some(b) = out.last_mut() {
            if let Some(k) = line.strip_prefix("# kind: ") {
                b.kind = k.trim().to_string();
            } else if b.kind != "jute" {
                // Four-letter words are plain text, not frames.
            } else if let Some(h) = line.strip_prefix("> ") {
                b.requests.push(unhex(h.trim()));
            } else if let Some(h) = line.strip_prefix("< ") {
                b.responses.push(unhex(h.trim()));
            }
        }
    }
    out
}

fn packet(frame: &[u8]) -> Vec<u8> {
    let mut c = FrameCodec::new(1 << 20);
    let mut b = BytesMut::from(frame);
    match c.decode(&mut b).expect("frame decodes") {
        Some(Frame::Packet(p)) => {
            assert!(b.is_empty(), "one frame per line");
            p.to_vec()
        }
        other => panic!("not a packet: {other:?}"),
    }
}

#[test]
fn golden_requests_decode() {
    let blocks = blocks();
    assert!(
        blocks.len() > 100,
        "golden file has {} blocks",
        blocks.len()
    );
    let mut decoded = 0;
    for b in blocks.iter().filter(|b| b.kind == "jute") {
        for req in &b.requests {
            let p = packet(req);
            if b.name.starts_with("connect") {
                let c = ConnectRequest::read(&p).unwrap_or_else(|e| panic!("{}: {e}", b.name));
                let mut again = Vec::new();
                c.write(&mut again);
                assert_eq!(
                    again, p,
                    "{}: connect request re-encodes identically",
                    b.name
                );
                continue;
            }
            let mut r = Reader::new(&p);
            let xid = r.i32().unwrap();
            let opcode = r.i32().unwrap();
            let parsed = Request::read(opcode, r.rest());
            match (b.name.as_str(), parsed) {
                (_, Ok(Request::Unsupported(code))) => {
                    assert!(
                        code == op::RECONFIG || code > 200,
                        "{}: opcode {code} unsupported",
                        b.name
                    )
                }
                (_, Ok(_)) => decoded += 1,
                (name, Err(e)) => panic!("{name}: xid {xid} opcode {opcode}: {e}"),
            }
        }
    }
    assert!(decoded > 100, "decoded {decoded} requests");
}

#[test]
fn golden_replies_have_reply_headers() {
    for b in blocks()
        .iter()
        .filter(|b| b.kind == "jute" && !b.name.starts_with("connect"))
    {
        for resp in &b.responses {
            let p = packet(resp);
            assert!(p.len() >= 16, "{}: reply shorter than a header", b.name);
            let mut r = Reader::new(&p);
            let (_xid, _zxid, err) = (r.i32().unwrap(), r.i64().unwrap(), r.i32().unwrap());
            if err != 0 {
                assert_eq!(p.len(), 16, "{}: an error reply is a bare header", b.name);
            }
        }
    }
}
