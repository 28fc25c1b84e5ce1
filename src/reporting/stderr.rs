//! Reporting: `Stderr`, a `fmt::Write` to the standard error stream through
//! a stack buffer and the platform's raw write: no std lock (so it cannot
//! deadlock against a thread inside `eprintln!`), no allocation.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};

use super::fixed_buf::FixedBuf;
use crate::sys::{self, WriteError};

const CAPACITY: usize = 1024;

/// See the module docs. Output is written when the buffer fills and on drop.
pub(crate) struct Stderr {
    buf: FixedBuf<CAPACITY>,
}

impl Stderr {
    pub(crate) const fn new() -> Self {
        Stderr {
            buf: FixedBuf::new(),
        }
    }

    pub(crate) fn flush(&mut self) {
        write_all(self.buf.as_str().as_bytes(), sys::write_stderr);
        self.buf.clear();
    }
}

/// Writes all of `bytes` with `write`, retrying after a signal interrupted
/// it; gives up silently on any other failure (there is nowhere to report a
/// failed report, and a report must never block or panic).
fn write_all(mut bytes: &[u8], mut write: impl FnMut(&[u8]) -> Result<usize, WriteError>) {
    while !bytes.is_empty() {
        match write(bytes) {
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(WriteError::Interrupted) => {}
            Err(WriteError::Failed) => return,
        }
    }
}

impl Write for Stderr {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            let room = CAPACITY - self.buf.len();
            let mut cut = s.len().min(room);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                self.flush();
                continue;
            }
            let (now, later) = s.split_at(cut);
            self.buf.write_str(now)?;
            s = later;
        }
        Ok(())
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn retries_after_eintr_and_partial_writes() {
        let mut written = Vec::new();
        let mut calls = 0;
        write_all(b"hello, world", |b| {
            calls += 1;
            match calls {
                1 | 3 => Err(WriteError::Interrupted),
                2 => {
                    written.extend_from_slice(&b[..5]);
                    Ok(5)
                }
                _ => {
                    written.extend_from_slice(b);
                    Ok(b.len())
                }
            }
        });
        assert_eq!(written, b"hello, world");
        assert_eq!(calls, 4);
    }

    #[test]
    fn gives_up_on_failure() {
        let mut calls = 0;
        write_all(b"lost", |_| {
            calls += 1;
            Err(WriteError::Failed)
        });
        assert_eq!(calls, 1);
    }
}
