//! [`Output`]: the ordered stdout/stderr text of one command.

/// Ordered stdout/stderr output of one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub chunks: Vec<(Stream, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Output {
    pub fn out(&mut self, s: impl Into<String>) {
        self.chunks.push((Stream::Out, s.into()));
    }

    /// Appends a line (newline added) to stdout.
    pub fn outln(&mut self, s: impl AsRef<str>) {
        self.out(format!("{}\n", s.as_ref()));
    }

    pub fn err(&mut self, s: impl Into<String>) {
        self.chunks.push((Stream::Err, s.into()));
    }

    /// Appends a line (newline added) to stderr.
    pub fn errln(&mut self, s: impl AsRef<str>) {
        self.chunks.push((Stream::Err, format!("{}\n", s.as_ref())));
    }

    /// Everything written to one stream, concatenated.
    pub fn text(&self, stream: Stream) -> String {
        self.chunks
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| t.as_str())
            .collect()
    }

    /// Writes the chunks to the process's stdout/stderr, in order.
    pub fn emit(&mut self) {
        use std::io::Write;
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        for (stream, text) in self.chunks.drain(..) {
            match stream {
                Stream::Out => {
                    let mut o = stdout.lock();
                    let _ = o.write_all(text.as_bytes());
                    let _ = o.flush();
                }
                Stream::Err => {
                    let _ = stdout.lock().flush();
                    let mut e = stderr.lock();
                    let _ = e.write_all(text.as_bytes());
                    let _ = e.flush();
                }
            }
        }
    }
}
