//! Reporting: where a repeat's stack capture may stop — the frame of a
//! known site's offending line, under that site's guard. A site is keyed
//! by its guard and the user's line (`format::site_key`), so frames further
//! out than that line cannot change which site a violation belongs to;
//! unwinding them (most of a capture's cost on a deep stack) is skipped
//! once the site is known. Written when a site is resolved, read inside the
//! allocator: a fixed table of atomics, no lock, no allocation.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::panic::Location;

use super::key_table::KeyTable;

/// (offending frame, guard) pairs: four per slot of the site table is
/// plenty (a site has one offending frame per guard it is seen under).
static STOPS: KeyTable<1024> = KeyTable::new();

/// The key of return address `ip` under `guard` (never 0).
fn key(ip: usize, guard: Option<&'static Location<'static>>) -> u64 {
    let guard = guard.map_or(0, |g| core::ptr::from_ref(g) as usize as u64);
    let mut h = (ip as u64 ^ guard.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    h.max(1)
}

/// Remembers that a capture under `guard` may stop at return address `ip`
/// (a resolved site's offending frame). Once the table is full, further
/// frames are not remembered: their captures stay whole.
pub(crate) fn insert(ip: usize, guard: Option<&'static Location<'static>>) {
    STOPS.insert(key(ip, guard), 0);
}

/// Whether a capture under `guard` may stop at return address `ip`.
#[inline]
pub(crate) fn contains(ip: usize, guard: Option<&'static Location<'static>>) -> bool {
    STOPS.find(key(ip, guard), 0).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_known_under_its_own_guard_only() {
        let a = Location::caller();
        let b: &'static Location<'static> = {
            #[track_caller]
            fn here() -> &'static Location<'static> {
                Location::caller()
            }
            here()
        };
        let ip = 0x5555_0000_1234usize;
        assert!(!contains(ip, Some(a)));
        insert(ip, Some(a));
        assert!(contains(ip, Some(a)));
        assert!(
            !contains(ip, Some(b)),
            "another guard's capture must not stop here"
        );
        assert!(!contains(ip + 1, Some(a)));
        insert(ip, Some(a)); // twice: still one entry, still found
        assert!(contains(ip, Some(a)));
    }
}
