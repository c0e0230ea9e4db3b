//! The thin IO layer: a TCP connection with a ZooKeeper session, frames in and out.

use super::proto::{
    connect_frame, parse_connect_response, parse_incoming, request_frame, Incoming, ProtoError,
    Req, SessionInfo,
};
use crate::codec::jute::frame::{Frame, FrameCodec, FrameError};
use crate::codec::jute::xid;
use bytes::Bytes;
use futures::StreamExt;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::FramedRead;

/// Largest reply frame accepted (well above jute.maxbuffer).
pub const MAX_FRAME: u32 = 64 << 20;

pub type FrameReader = FramedRead<OwnedReadHalf, FrameCodec>;

pub struct Conn {
    pub addr: String,
    pub session: SessionInfo,
    pub reader: FrameReader,
    pub writer: OwnedWriteHalf,
    xid: i32,
}

/// Open a TCP connection and a new session, within `limit`.
pub async fn connect(
    addr: &str,
    session_timeout_ms: i32,
    limit: Duration,
) -> Result<Conn, ProtoError> {
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ProtoError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (rh, mut writer) = stream.into_split();
        writer.write_all(&connect_frame(session_timeout_ms)).await?;
        let mut reader = FramedRead::new(rh, FrameCodec::new(MAX_FRAME));
        let first = read_frame(&mut reader).await?;
        let session = parse_connect_response(&first)?;
        Ok(Conn {
            addr: addr.to_string(),
            session,
            reader,
            writer,
            xid: 0,
        })
    };
    match timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ProtoError::ConnectTimeout(addr.to_string())),
    }
}

/// Try `hosts` in turn, starting at `start`; the first session wins. On failure, every error.
pub async fn connect_any(
    hosts: &[String],
    start: usize,
    session_timeout_ms: i32,
    limit: Duration,
) -> Result<Conn, Vec<ProtoError>> {
    let mut errors = Vec::new();
    for i in 0..hosts.len() {
        let addr = &hosts[(start + i) % hosts.len()];
        match connect(addr, session_timeout_ms, limit).await {
            Ok(c) => return Ok(c),
            Err(e) => errors.push(e),
        }
    }
    Err(errors)
}

/// The next frame; cancel-safe (the framing state lives in the reader).
pub async fn read_frame(reader: &mut FrameReader) -> Result<Bytes, ProtoError> {
    match reader.next().await {
        None => Err(ProtoError::Closed),
        Some(Err(FrameError::Io(e))) => Err(ProtoError::Io(e)),
        Some(Err(e)) => Err(ProtoError::Unexpected(e.to_string())),
        Some(Ok(Frame::Packet(b))) => Ok(b),
        Some(Ok(Frame::FourLetter(w))) => {
            Err(ProtoError::Unexpected(format!("four-letter word {w:?}")))
        }
    }
}

/// Next xid after `x`: 1..=i32::MAX, wrapping to 1.
pub fn next_xid(x: i32) -> i32 {
    match x.checked_add(1) {
        Some(n) if n > 0 => n,
        _ => 1,
    }
}

impl Conn {
    pub fn next_xid(&mut self) -> i32 {
        self.xid = next_xid(self.xid);
        self.xid
    }

    /// Send every request at once and collect the replies in order as `(err, body)`;
    /// notifications in between are skipped. Bounded by `limit`.
    pub async fn call_many(
        &mut self,
        reqs: &[Req<'_>],
        limit: Duration,
    ) -> Result<Vec<(i32, Bytes)>, ProtoError> {
        let mut buf = Vec::new();
        let mut xids = Vec::with_capacity(reqs.len());
        for r in reqs {
            let x = if matches!(r, Req::Ping) {
                xid::PING
            } else {
                self.next_xid()
            };
            buf.extend_from_slice(&request_frame(x, r));
            xids.push(x);
        }
        let exchange = async {
            self.writer.write_all(&buf).await?;
            let mut out = Vec::with_capacity(xids.len());
            while out.len() < xids.len() {
                let f = read_frame(&mut self.reader).await?;
                match parse_incoming(&f)? {
                    Incoming::Watch { .. } => continue,
                    Incoming::Reply { xid, err, body, .. } => {
                        let expected = xids[out.len()];
                        if xid != expected {
                            return Err(ProtoError::XidMismatch { expected, got: xid });
                        }
                        out.push((err, f.slice_ref(body)));
                    }
                }
            }
            Ok(out)
        };
        match timeout(limit, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ProtoError::Timeout),
        }
    }

    pub async fn call(
        &mut self,
        req: &Req<'_>,
        limit: Duration,
    ) -> Result<(i32, Bytes), ProtoError> {
        let mut v = self.call_many(std::slice::from_ref(req), limit).await?;
        Ok(v.remove(0))
    }

    /// Close the session, waiting at most `limit` for the server's answer. Best effort.
    pub async fn close(mut self, limit: Duration) {
        let _ = self.call(&Req::CloseSession, limit).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xids_stay_positive() {
        assert_eq!(next_xid(0), 1);
        assert_eq!(next_xid(41), 42);
        assert_eq!(next_xid(i32::MAX), 1);
        assert_eq!(next_xid(-2), 1);
    }
}
