//! Length-prefixed frames of the client port. The first frame of a connection may instead be a
//! four-letter word, recognised by its four ASCII bytes where the length would be.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Words answered on the client port.
pub const FOUR_LETTER_WORDS: &[&str] = &[
    "ruok", "isro", "srvr", "stat", "cons", "conf", "envi", "wchs", "wchc", "wchp", "dump", "crst",
    "srst", "dirs", "gtmk", "stmk", "mntr", "hash",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Packet(Bytes),
    FourLetter(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(
        "frame length {len} is negative or exceeds jute.maxbuffer = {max} (server.jute_max_buffer)"
    )]
    TooLarge { len: i64, max: u32 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct FrameCodec {
    max: u32,
    first: bool,
}

impl FrameCodec {
    pub fn new(max: u32) -> Self {
        FrameCodec { max, first: true }
    }
}

/// Most that a partial frame makes the decoder reserve ahead of the bytes.
const READ_AHEAD: usize = 64 << 10;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        if self.first {
            if let Ok(word) = std::str::from_utf8(&src[..4]) {
                if FOUR_LETTER_WORDS.contains(&word) {
                    let word = word.to_string();
                    src.advance(4);
                    self.first = false;
                    return Ok(Some(Frame::FourLetter(word)));
                }
            }
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 0 || len as u32 > self.max {
            return Err(FrameError::TooLarge {
                len: len as i64,
                max: self.max,
            });
        }
        let len = len as usize;
        if src.len() < 4 + len {
            // Room for what arrives next, not for the whole announced frame: a length prefix
            // alone must not make the server allocate that much (memory follows the bytes a
            // peer really sent).
            src.reserve((4 + len - src.len()).min(READ_AHEAD));
            return Ok(None);
        }
        self.first = false;
        src.advance(4);
        Ok(Some(Frame::Packet(src.split_to(len).freeze())))
    }
}

/// Outgoing frames are pre-encoded, length prefix included.
impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

/// Wrap a payload with its 4-byte length.
pub fn frame(payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    v.extend_from_slice(payload);
    Bytes::from(v)
}

/// Start a frame whose length is patched in by `finish_frame`.
pub fn start_frame() -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

pub fn finish_frame(mut v: Vec<u8>) -> Bytes {
    let len = (v.len() - 4) as i32;
    v[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_letter_word_only_first() {
        let mut c = FrameCodec::new(1024);
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Frame::FourLetter("ruok".into()))
        );
        let mut c = FrameCodec::new(1024);
        let mut b = BytesMut::from(&[0, 0, 0, 2, 9, 9, 0, 0][..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Frame::Packet(Bytes::from_static(&[9, 9])))
        );
        assert_eq!(c.decode(&mut b).unwrap(), None);
    }

    #[test]
    fn oversized_and_negative_refused() {
        let mut c = FrameCodec::new(10);
        let mut b = BytesMut::from(&[0, 0, 0, 11][..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
        let mut c = FrameCodec::new(10);
        let mut b = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert!(c.decode(&mut b).is_err());
    }

    #[test]
    fn partial_frames_wait() {
        let mut c = FrameCodec::new(100);
        let mut b = BytesMut::from(&[0, 0, 0, 3, 1][..]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
        b.extend_from_slice(&[2, 3]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Frame::Packet(Bytes::from_static(&[1, 2, 3])))
        );
    }

    #[test]
    fn frame_helpers() {
        let mut v = start_frame();
        v.extend_from_slice(b"abc");
        assert_eq!(&finish_frame(v)[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(&frame(b"x")[..], &[0, 0, 0, 1, b'x']);
    }
}
