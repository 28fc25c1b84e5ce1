//! Reporting: `FixedBuf`, a `fmt::Write` into a fixed array, for text made
//! inside the allocator (no heap); output past its end is dropped and
//! marked with `…`.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};

/// See the module docs.
#[derive(Clone, Copy)]
pub(crate) struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

/// Marks where a truncated text was cut.
const MARK: &str = "…";

impl<const N: usize> FixedBuf<N> {
    pub(crate) const fn new() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Writes only ever append whole `str`s or cut at a char boundary.
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends `bytes` if they fit; `false` (and nothing written) if not.
    fn append(&mut self, bytes: &[u8]) -> bool {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len = end;
                true
            }
            None => false,
        }
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated || self.append(s.as_bytes()) {
            return Ok(());
        }
        let room = N - self.len;
        let mut cut = room.saturating_sub(MARK.len()).min(s.len());
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.append(s.as_bytes().get(..cut).unwrap_or_default());
        self.append(MARK.as_bytes());
        self.truncated = true;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn fits_exactly() {
        let mut b = FixedBuf::<5>::new();
        write!(b, "ab{}", std::hint::black_box('c')).unwrap();
        b.write_str("de").unwrap();
        assert_eq!(b.as_str(), "abcde");
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn truncates_with_a_mark_at_a_char_boundary() {
        let mut b = FixedBuf::<8>::new();
        b.write_str("ab").unwrap();
        // "é" is two bytes: the cut must not split it.
        b.write_str("cdéfgh").unwrap();
        assert_eq!(b.as_str(), "abcd…");
        b.write_str("more").unwrap(); // dropped after truncation
        assert_eq!(b.as_str(), "abcd…");
        b.clear();
        b.write_str("new").unwrap();
        assert_eq!(b.as_str(), "new");
    }

    #[test]
    fn too_small_for_the_mark() {
        let mut b = FixedBuf::<2>::new();
        b.write_str("abc").unwrap();
        assert_eq!(b.as_str(), "");
    }
}
