//! Reporting: what a violation records, captured inside the allocator
//! without allocating or locking — the operation, the thread, and the raw
//! instruction pointers of the call stack (resolved later, in `symbols`).
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::Cell;
use core::fmt;
use core::panic::Location;

use super::stop_frames;

use crate::state::event::Event;
use crate::sys;

/// How many return addresses a violation keeps.
pub(crate) const MAX_FRAMES: usize = 64;

/// Instruction pointers of a call stack, innermost first.
#[derive(Clone, Copy)]
pub(crate) struct Frames {
    ips: [usize; MAX_FRAMES],
    len: usize,
    /// Index of the first frame above the capturing function (the frame
    /// that called into `CountingAlloc`), when it was found.
    pub(crate) caller: Option<usize>,
    /// The capture stopped at a known site's offending frame (see
    /// [`Frames::capture_site`]), short of the stack's end.
    pub(crate) cut: bool,
}

impl Frames {
    pub(crate) const EMPTY: Frames = Frames {
        ips: [0; MAX_FRAMES],
        len: 0,
        caller: None,
        cut: false,
    };

    /// Captures the current call stack without allocating or locking, and
    /// notes where alloc_guard's own frames end: after the frame of the
    /// function that starts at `boundary` (the allocator's cold path; found
    /// by its address, which does not depend on inlining or symbol names).
    #[inline(never)]
    pub(crate) fn capture(boundary: usize) -> Frames {
        Frames::capture_until(boundary, |_| false)
    }

    /// [`Frames::capture`] for `Policy::LogBacktrace`, which stops at the
    /// offending frame of a site already resolved under `guard` (see
    /// `stop_frames`): the frames further out cannot change the site.
    #[inline(never)]
    pub(crate) fn capture_site(
        boundary: usize,
        guard: Option<&'static Location<'static>>,
    ) -> Frames {
        Frames::capture_until(boundary, |ip| stop_frames::contains(ip, guard))
    }

    /// Captures up to and including the first frame for which `stop_after`
    /// is true.
    #[inline(always)]
    fn capture_until(boundary: usize, stop_after: impl Fn(usize) -> bool) -> Frames {
        const SEARCH: usize = 16;
        let mut frames = Frames::EMPTY;
        // SAFETY: `trace_unsynchronized` is unsafe only because it does not
        // take the crate's global lock; the unwinder it calls
        // (`_Unwind_Backtrace`) is thread-safe on the platforms we support,
        // and the callback neither allocates nor unwinds.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let ip = frame.ip() as usize;
                if ip != 0 {
                    if frames.caller.is_none()
                        && frames.len < SEARCH
                        && frame.symbol_address() as usize == boundary
                    {
                        frames.caller = Some(frames.len + 1);
                    }
                    frames.push(ip);
                    // A stop is a frame of the user's code, never one of
                    // alloc_guard's own (those before the boundary).
                    if stop_after(ip) {
                        frames.cut = true;
                        return false;
                    }
                }
                frames.len < MAX_FRAMES
            });
        }
        frames
    }

    fn push(&mut self, ip: usize) {
        if let Some(slot) = self.ips.get_mut(self.len) {
            *slot = ip;
            self.len += 1;
        }
    }

    /// These frames cut after the first frame whose return address is
    /// `ip`, as [`Frames::capture_site`] captures them once `ip` is a stop;
    /// `None` if no such frame was captured.
    pub(crate) fn cut_after(&self, ip: usize) -> Option<Frames> {
        let from = self.caller.unwrap_or(0);
        let at = self.all().get(from..)?.iter().position(|&x| x == ip)?;
        Some(Frames {
            len: from + at + 1,
            cut: true,
            ..*self
        })
    }

    /// Every captured frame, innermost first.
    pub(crate) fn all(&self) -> &[usize] {
        self.ips.get(..self.len).unwrap_or_default()
    }

    /// The frames from the allocator's caller outwards (all frames if the
    /// boundary's frame was not found).
    pub(crate) fn callers(&self) -> &[usize] {
        let all = self.all();
        all.get(self.caller.unwrap_or(0)..).unwrap_or_default()
    }
}

impl fmt::Debug for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frames({} ips)", self.len)
    }
}

/// The OS name of a thread (at most 15 bytes on Linux) and its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadName {
    bytes: [u8; 32],
    len: usize,
    pub(crate) tid: i64,
}

impl ThreadName {
    pub(crate) const EMPTY: ThreadName = ThreadName {
        bytes: [0; 32],
        len: 0,
        tid: 0,
    };

    /// This thread's name and id as [`ThreadName::remember`] read them when
    /// the thread made its first guard: one TLS load, no system call (a
    /// real-time thread's report must not make one). Read from the OS on a
    /// thread that never remembered it.
    pub(crate) fn current() -> ThreadName {
        let remembered = REMEMBERED.with(Cell::get);
        if remembered.tid != 0 {
            return remembered;
        }
        ThreadName::read()
    }

    /// Reads this thread's name and id from the OS (system calls), and
    /// remembers them for [`ThreadName::current`]. Outside the allocator:
    /// when a thread makes its first guard, and in a forked child.
    pub(crate) fn remember() {
        let name = ThreadName::read();
        REMEMBERED.with(|r| r.set(name));
    }

    fn read() -> ThreadName {
        let mut name = ThreadName::EMPTY;
        let (len, tid) = sys::thread_name(&mut name.bytes);
        name.len = len.min(name.bytes.len());
        name.tid = tid;
        name
    }

    pub(crate) fn as_str(&self) -> &str {
        match self
            .bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
        {
            Some(s) if !s.is_empty() => s,
            _ => "<unnamed>",
        }
    }
}

thread_local! {
    /// This thread's name and id, read once (const, no destructor: readable
    /// inside the allocator at every moment).
    static REMEMBERED: Cell<ThreadName> = const { Cell::new(ThreadName::EMPTY) };
}

/// Everything recorded about one violation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) frames: Frames,
}

impl Record {
    /// Records `event` on this thread, with its call stack (see
    /// [`Frames::capture`] for `boundary`) and the thread's name.
    #[inline(never)]
    pub(crate) fn capture(event: Event, boundary: usize) -> Record {
        Record {
            event,
            thread: ThreadName::current(),
            frames: Frames::capture(boundary),
        }
    }

    /// FNV-1a over the operation and the call stack: equal for every
    /// violation from the same call site.
    pub(crate) fn site_hash(event: &Event, frames: &Frames) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u64| {
            h ^= x;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        mix(event.op as u64);
        for &ip in frames.callers() {
            mix(ip as u64);
        }
        h.max(1) // 0 marks an empty slot
    }
}
