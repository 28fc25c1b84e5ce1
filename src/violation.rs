//! What a violation records, captured inside the allocator without
//! allocating: the operation, its layout, the thread, and the raw
//! instruction pointers of the call stack (resolved later, outside).

use core::fmt;
use core::panic::Location;

use crate::policy::Policy;
use crate::{report, sites};

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

impl Event {
    pub(crate) const EMPTY: Event = Event {
        op: Operation::Alloc,
        size: 0,
        align: 0,
        old_size: 0,
    };
}

/// How many return addresses a violation keeps.
pub(crate) const MAX_FRAMES: usize = 64;

/// Instruction pointers of a call stack, innermost first.
#[derive(Clone, Copy)]
pub(crate) struct Frames {
    pub(crate) ips: [usize; MAX_FRAMES],
    pub(crate) len: usize,
    /// Index of the first frame above the allocator's cold path (the frame
    /// that called into `CountingAlloc`), when it was found.
    pub(crate) caller: Option<usize>,
}

impl Frames {
    pub(crate) const EMPTY: Frames = Frames {
        ips: [0; MAX_FRAMES],
        len: 0,
        caller: None,
    };

    /// Captures the current call stack without allocating or locking, and
    /// notes where the allocator's own frames end: after the frame of the
    /// cold path (found by its function address, which does not depend on
    /// inlining or on symbol names).
    #[inline(never)]
    pub(crate) fn capture() -> Frames {
        const SEARCH: usize = 16;
        let cold_path = crate::alloc::cold_path_address();
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
                        && frame.symbol_address() as usize == cold_path
                    {
                        frames.caller = Some(frames.len + 1);
                    }
                    frames.ips[frames.len] = ip;
                    frames.len += 1;
                }
                frames.len < MAX_FRAMES
            });
        }
        frames
    }

    /// The frames from the allocator's caller outwards (all frames if the
    /// cold path's frame was not found).
    pub(crate) fn callers(&self) -> &[usize] {
        &self.ips[self.caller.unwrap_or(0).min(self.len)..self.len]
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

    /// This thread's name, read without allocating (`prctl(PR_GET_NAME)`,
    /// one system call; `pthread_getname_np` elsewhere). The main thread is
    /// called `main`, as Rust calls it.
    pub(crate) fn current() -> ThreadName {
        let mut name = ThreadName::EMPTY;
        let mut buf = [0u8; 32];
        #[cfg(target_os = "linux")]
        let ok = {
            // SAFETY: gettid and getpid have no preconditions; PR_GET_NAME
            // writes at most 16 bytes into `buf`, which holds 32.
            let (tid, pid) = unsafe { (libc::gettid(), libc::getpid()) };
            name.tid = i64::from(tid);
            if tid == pid {
                name.set(b"main");
                return name;
            }
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) == 0 }
        };
        #[cfg(not(target_os = "linux"))]
        // SAFETY: `buf` is valid for `buf.len()` bytes; pthread_self() is
        // always a valid handle for the calling thread.
        let ok = unsafe {
            libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr().cast(), buf.len()) == 0
        };
        if ok {
            let len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
            name.set(&buf[..len]);
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
pub(crate) struct Record {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) frames: Frames,
}

impl Record {
    pub(crate) const EMPTY: Record = Record {
        event: Event::EMPTY,
        thread: ThreadName::EMPTY,
        frames: Frames::EMPTY,
    };

    /// Records `event` on this thread, with its call stack and the thread's
    /// name.
    #[inline(never)]
    pub(crate) fn capture(event: Event) -> Record {
        Record {
            event,
            thread: ThreadName::current(),
            frames: Frames::capture(),
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

/// A violation as handed to a [`set_reporter`](crate::set_reporter) hook:
/// the first from its call site, or a repeat announced at a count of 10,
/// 100, 1,000, … (`Policy::LogBacktrace`); or an `Abort` report.
/// `Display` gives the same text alloc_guard writes to stderr.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Operation, Policy};
/// fn main() {
///     alloc_guard::set_reporter(|v| {
///         assert_eq!(v.operation(), Operation::Alloc);
///         assert_eq!((v.size(), v.align(), v.old_size()), (8, 8, None));
///         assert_eq!(v.policy(), Policy::LogBacktrace);
///         assert_eq!((v.count(), v.is_repeat()), (1, false));
///         assert!(v.site_id() > 0);
///         assert_eq!(v.thread_name(), "main");
///         assert!(v.guard_location().is_some());
///         assert!(v.location().to_string().contains("main"));
///         assert!(!v.backtrace().to_string().is_empty());
///         assert!(v.to_string().starts_with("alloc_guard: alloc of 8 bytes"));
///     })
///     .unwrap();
///     let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     drop(std::hint::black_box(Box::new(1u64)));
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Violation<'a> {
    record: &'a Record,
    guard: Option<&'static Location<'static>>,
    policy: Policy,
    site: u32,
    count: u64,
}

impl<'a> Violation<'a> {
    pub(crate) fn new(
        record: &'a Record,
        guard: Option<&'static Location<'static>>,
        policy: Policy,
        site: u32,
        count: u64,
    ) -> Self {
        Violation {
            record,
            guard,
            policy,
            site,
            count,
        }
    }

    /// The heap operation.
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.operation())).ok();
    /// ```
    pub fn operation(&self) -> Operation {
        self.record.event.op
    }

    /// Bytes requested (for a realloc, the new size; for a dealloc, the size freed).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.size())).ok();
    /// ```
    pub fn size(&self) -> usize {
        self.record.event.size
    }

    /// The alignment requested.
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.align())).ok();
    /// ```
    pub fn align(&self) -> usize {
        self.record.event.align
    }

    /// For a realloc, the size before.
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.old_size())).ok();
    /// ```
    pub fn old_size(&self) -> Option<usize> {
        (self.record.event.op == Operation::Realloc).then_some(self.record.event.old_size)
    }

    /// The name of the offending thread as the OS knows it (at most 15
    /// bytes on Linux; `main` for the main thread).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.thread_name())).ok();
    /// ```
    pub fn thread_name(&self) -> &str {
        self.record.thread.as_str()
    }

    /// Where the innermost guard was made.
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.guard_location())).ok();
    /// ```
    pub fn guard_location(&self) -> Option<&'static Location<'static>> {
        self.guard
    }

    /// The policy acted on (after any runtime override).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.policy())).ok();
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The call site's number in [`report`](crate::report) (0 for `Abort`
    /// reports, which are not tracked).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.site_id())).ok();
    /// ```
    pub fn site_id(&self) -> u32 {
        self.site
    }

    /// Violations from this call site so far, this one included.
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.count())).ok();
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether this is a repeat announcement (the site was reported before).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{:?}", v.is_repeat())).ok();
    /// ```
    pub fn is_repeat(&self) -> bool {
        self.count > 1
    }

    /// The offending call: "function (file:line:col)". For a repeat, the
    /// text resolved at the site's first report (nothing is resolved again).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{}", v.location())).ok();
    /// ```
    pub fn location(&self) -> impl fmt::Display + '_ {
        Location_(self)
    }

    /// The call stack from the offending call outwards, resolved when
    /// displayed (which allocates: fine inside a reporter hook).
    ///
    /// ```
    /// alloc_guard::set_reporter(|v| eprintln!("{}", v.backtrace())).ok();
    /// ```
    pub fn backtrace(&self) -> impl fmt::Display + '_ {
        Backtrace(self.record)
    }
}

struct Location_<'a, 'b>(&'b Violation<'a>);

impl fmt::Display for Location_<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        match sites::site(v.site) {
            Some(site) => f.write_str(site.at.as_str()),
            None => report::write_offending_call(f, v.record),
        }
    }
}

struct Backtrace<'a>(&'a Record);

impl fmt::Display for Backtrace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        report::write_backtrace(f, self.0, usize::MAX)
    }
}

impl fmt::Display for Violation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_repeat() {
            writeln!(
                f,
                "alloc_guard: site #{} seen {} times: {} at {}",
                self.site,
                self.count,
                report::describe(&self.record.event),
                self.location()
            )
        } else {
            report::write_report(f, self.record, self.guard, self.policy, self.site)
        }
    }
}

impl fmt::Debug for Violation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Violation")
            .field("operation", &self.operation())
            .field("size", &self.size())
            .field("align", &self.align())
            .field("thread", &self.thread_name())
            .field("guard", &self.guard)
            .field("policy", &self.policy)
            .field("site", &self.site)
            .field("count", &self.count)
            .finish()
    }
}
