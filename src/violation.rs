//! What a violation records, captured inside the allocator without
//! allocating: the operation, its layout, the thread, and the raw
//! instruction pointers of the call stack (resolved later, outside).

use core::fmt;

/// A heap operation, as seen by [`CountingAlloc`](crate::CountingAlloc).
///
/// ```
/// use alloc_guard::Operation;
/// assert_eq!(Operation::Realloc.to_string(), "realloc");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GlobalAlloc::alloc`.
    Alloc,
    /// `GlobalAlloc::alloc_zeroed`.
    AllocZeroed,
    /// `GlobalAlloc::realloc`.
    Realloc,
    /// `GlobalAlloc::dealloc`.
    Dealloc,
}

impl Operation {
    /// The name used in reports: `alloc`, `alloc_zeroed`, `realloc`, `dealloc`.
    ///
    /// ```
    /// assert_eq!(alloc_guard::Operation::AllocZeroed.name(), "alloc_zeroed");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Alloc => "alloc",
            Operation::AllocZeroed => "alloc_zeroed",
            Operation::Realloc => "realloc",
            Operation::Dealloc => "dealloc",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One heap operation as the allocator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) op: Operation,
    /// Bytes requested (for realloc: the new size; for dealloc: the size freed).
    pub(crate) size: usize,
    pub(crate) align: usize,
    /// For realloc: the size before.
    pub(crate) old_size: usize,
}

/// How many return addresses a violation keeps.
pub(crate) const MAX_FRAMES: usize = 64;

/// Instruction pointers of a call stack, innermost first.
#[derive(Clone, Copy)]
pub(crate) struct Frames {
    pub(crate) ips: [usize; MAX_FRAMES],
    pub(crate) len: usize,
}

impl Frames {
    pub(crate) const EMPTY: Frames = Frames {
        ips: [0; MAX_FRAMES],
        len: 0,
    };

    /// Captures the current call stack without allocating or locking.
    #[inline(never)]
    pub(crate) fn capture() -> Frames {
        let mut frames = Frames::EMPTY;
        // SAFETY: `trace_unsynchronized` is unsafe only because it does not
        // take the crate's global lock; the unwinder it calls
        // (`_Unwind_Backtrace`) is thread-safe on the platforms we support,
        // and the callback neither allocates nor unwinds.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let ip = frame.ip() as usize;
                if ip != 0 {
                    frames.ips[frames.len] = ip;
                    frames.len += 1;
                }
                frames.len < MAX_FRAMES
            });
        }
        frames
    }

    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.ips[..self.len]
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
    const EMPTY: ThreadName = ThreadName {
        bytes: [0; 32],
        len: 0,
        tid: 0,
    };

    /// This thread's name, read without allocating (`pthread_getname_np`).
    /// The main thread is called `main`, as Rust calls it.
    pub(crate) fn current() -> ThreadName {
        let mut name = ThreadName::EMPTY;
        #[cfg(target_os = "linux")]
        {
            // SAFETY: gettid and getpid have no preconditions.
            let (tid, pid) = unsafe { (libc::gettid(), libc::getpid()) };
            name.tid = i64::from(tid);
            if tid == pid {
                name.set(b"main");
                return name;
            }
        }
        let mut buf = [0 as libc::c_char; 32];
        // SAFETY: `buf` is valid for `buf.len()` bytes; pthread_self() is
        // always a valid handle for the calling thread.
        let rc =
            unsafe { libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr(), buf.len()) };
        if rc == 0 {
            let len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
            let bytes: [u8; 32] = buf.map(|c| c as u8);
            name.set(&bytes[..len]);
        }
        name
    }

    fn set(&mut self, bytes: &[u8]) {
        let len = bytes.len().min(self.bytes.len());
        self.bytes[..len].copy_from_slice(&bytes[..len]);
        self.len = len;
    }

    pub(crate) fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.bytes[..self.len]) {
            Ok(s) if !s.is_empty() => s,
            _ => "<unnamed>",
        }
    }
}

/// Everything recorded about one violation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Violation {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) frames: Frames,
}

impl Violation {
    pub(crate) const EMPTY: Violation = Violation {
        event: Event {
            op: Operation::Alloc,
            size: 0,
            align: 0,
            old_size: 0,
        },
        thread: ThreadName::EMPTY,
        frames: Frames::EMPTY,
    };

    /// Records `event` on this thread, with its call stack.
    #[inline(never)]
    pub(crate) fn capture(event: Event) -> Violation {
        Violation {
            event,
            thread: ThreadName::current(),
            frames: Frames::capture(),
        }
    }
}
