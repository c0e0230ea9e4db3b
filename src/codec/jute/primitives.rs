//! Jute primitive encodings: big-endian integers, length-prefixed buffers and strings, vectors.
//! A length of -1 means null, kept distinct from empty.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record truncated: {needed} more bytes needed at offset {at}")]
    Truncated { at: usize, needed: usize },
    #[error("invalid length {len} at offset {at}")]
    BadLength { at: usize, len: i32 },
    #[error("string at offset {at} is not valid UTF-8")]
    BadUtf8 { at: usize },
    #[error("{0}")]
    Invalid(String),
}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over one record's bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                at: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.u8()? != 0)
    }

    pub fn i32(&mut self) -> DecodeResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self) -> DecodeResult<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn len(&mut self) -> DecodeResult<Option<usize>> {
        let at = self.pos;
        let n = self.i32()?;
        if n < 0 {
            // -1 is null; some clients write any negative length for it.
            return Ok(None);
        }
        if n as usize > self.remaining() {
            return Err(DecodeError::BadLength { at, len: n });
        }
        Ok(Some(n as usize))
    }

    pub fn buffer(&mut self) -> DecodeResult<Option<Vec<u8>>> {
        match self.len()? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    pub fn ustring_opt(&mut self) -> DecodeResult<Option<String>> {
        let at = self.pos;
        match self.len()? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| DecodeError::BadUtf8 { at })
            }
        }
    }

    /// A string where null reads as empty (how servers treat paths and names).
    pub fn ustring(&mut self) -> DecodeResult<String> {
        Ok(self.ustring_opt()?.unwrap_or_default())
    }

    pub fn vec<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let at = self.pos;
        let n = self.i32()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        // Each element takes at least one byte: refuse counts that cannot fit.
        if n as usize > self.remaining() {
            return Err(DecodeError::BadLength { at, len: n });
        }
        let mut v = Vec::with_capacity(n as usize);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }

    pub fn strings(&mut self) -> DecodeResult<Vec<String>> {
        self.vec(|r| r.ustring())
    }
}

/// Appending writers for jute primitives.
pub trait JuteWrite {
    fn put_i32(&mut self, v: i32);
    fn put_i64(&mut self, v: i64);
    fn put_bool(&mut self, v: bool);
    fn put_buffer(&mut self, v: Option<&[u8]>);
    fn put_str(&mut self, v: &str);
    fn put_strings<S: AsRef<str>>(&mut self, v: &[S]);
}

impl JuteWrite for Vec<u8> {
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_bool(&mut self, v: bool) {
        self.push(v as u8);
    }
    fn put_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(b) => {
                self.put_i32(b.len() as i32);
                self.extend_from_slice(b);
            }
        }
    }
    fn put_str(&mut self, v: &str) {
        self.put_i32(v.len() as i32);
        self.extend_from_slice(v.as_bytes());
    }
    fn put_strings<S: AsRef<str>>(&mut self, v: &[S]) {
        self.put_i32(v.len() as i32);
        for s in v {
            self.put_str(s.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_primitives() {
        let mut w = Vec::new();
        w.put_i32(-2);
        w.put_i64(0x0102030405060708);
        w.put_bool(true);
        w.put_buffer(None);
        w.put_buffer(Some(b""));
        w.put_buffer(Some(b"abc"));
        w.put_str("/a");
        w.put_strings(&["x", "yz"]);
        let mut r = Reader::new(&w);
        assert_eq!(r.i32().unwrap(), -2);
        assert_eq!(r.i64().unwrap(), 0x0102030405060708);
        assert!(r.bool().unwrap());
        assert_eq!(r.buffer().unwrap(), None);
        assert_eq!(r.buffer().unwrap(), Some(vec![]));
        assert_eq!(r.buffer().unwrap(), Some(b"abc".to_vec()));
        assert_eq!(r.ustring().unwrap(), "/a");
        assert_eq!(
            r.strings().unwrap(),
            vec!["x".to_string(), "yz".to_string()]
        );
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn truncated_and_bad_lengths_are_errors() {
        assert!(matches!(
            Reader::new(&[0, 0]).i32(),
            Err(DecodeError::Truncated { .. })
        ));
        let mut w = Vec::new();
        w.put_i32(100);
        w.extend_from_slice(b"short");
        assert!(matches!(
            Reader::new(&w).buffer(),
            Err(DecodeError::BadLength { .. })
        ));
        let mut w = Vec::new();
        w.put_i32(i32::MAX);
        assert!(Reader::new(&w).strings().is_err());
        let mut w = Vec::new();
        w.put_i32(2);
        w.extend_from_slice(&[0xff, 0xfe]);
        assert!(matches!(
            Reader::new(&w).ustring(),
            Err(DecodeError::BadUtf8 { .. })
        ));
    }
}
