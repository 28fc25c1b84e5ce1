//! Platform: Linux, macOS, iOS and the BSDs (POSIX calls through `libc`).
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::ffi::c_void;

use super::write_error::WriteError;

/// Writes as much of `bytes` as one `write(2)` takes to file descriptor 2,
/// outside std's stderr lock.
pub(crate) fn write_stderr(bytes: &[u8]) -> Result<usize, WriteError> {
    // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
    let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    if n > 0 {
        return Ok(n as usize);
    }
    if n < 0 && errno() == libc::EINTR {
        Err(WriteError::Interrupted)
    } else {
        Err(WriteError::Failed)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Maps `len` bytes of zeroed, private, read-write memory outside the heap;
/// null on failure.
pub(crate) fn map_pages(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no
    // preconditions; the result is checked for failure.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps memory from [`map_pages`].
///
/// # Safety
///
/// `ptr` and `len` come from one successful `map_pages(len)`, and nothing
/// refers into the mapping any more.
pub(crate) unsafe fn unmap_pages(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the mapping is ours and unused.
    unsafe { libc::munmap(ptr.cast(), len) };
}

/// Fills `buf` with the calling thread's OS name (`main` for the main
/// thread, as Rust calls it) and returns its length and the thread's id.
/// One or two system calls; no allocation.
pub(crate) fn thread_name(buf: &mut [u8; 32]) -> (usize, i64) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and getpid have no preconditions.
        let (tid, pid) = unsafe { (libc::gettid(), libc::getpid()) };
        if tid == pid {
            return (copy_name(buf, b"main"), i64::from(tid));
        }
        // SAFETY: PR_GET_NAME writes at most 16 bytes into `buf`, which holds 32.
        let ok = unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) } == 0;
        (if ok { name_len(buf) } else { 0 }, i64::from(tid))
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: `buf` is valid for `buf.len()` bytes; pthread_self() is
        // always a valid handle for the calling thread.
        let ok = unsafe {
            libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr().cast(), buf.len())
        } == 0;
        // SAFETY: pthread_self has no preconditions.
        let id = unsafe { libc::pthread_self() } as usize as i64;
        (if ok { name_len(buf) } else { 0 }, id)
    }
}

#[cfg(target_os = "linux")]
fn copy_name(buf: &mut [u8; 32], name: &[u8]) -> usize {
    for (to, from) in buf.iter_mut().zip(name) {
        *to = *from;
    }
    name.len().min(buf.len())
}

fn name_len(buf: &[u8; 32]) -> usize {
    buf.iter().position(|&c| c == 0).unwrap_or(buf.len())
}

/// A per-thread destructor: a pthread key whose destructor runs when a
/// thread that set a value for it exits, after the thread's Rust TLS
/// destructors (glibc and the BSDs run key destructors last).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExitHook(libc::pthread_key_t);

impl ExitHook {
    /// Creates the key. Lock-free in glibc (pthread keys are claimed with
    /// an atomic compare-and-swap) and allocation-free.
    pub(crate) fn create(on_exit: unsafe extern "C" fn(*mut c_void)) -> Option<ExitHook> {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-pointer; `on_exit` has the signature
        // pthread expects of a destructor.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(on_exit)) };
        (rc == 0).then_some(ExitHook(key))
    }

    /// Deletes a key that lost a race to be the one in use.
    pub(crate) fn delete(self) {
        // SAFETY: the key was created by `create` and no thread set a value
        // for it (it was never published).
        unsafe { libc::pthread_key_delete(self.0) };
    }

    /// The key as a non-zero number (to keep it in an atomic).
    pub(crate) fn to_bits(self) -> usize {
        self.0 as usize + 1
    }

    /// The key from [`to_bits`](Self::to_bits).
    pub(crate) fn from_bits(bits: usize) -> ExitHook {
        ExitHook(bits.wrapping_sub(1) as libc::pthread_key_t)
    }

    /// Arms the hook for the calling thread with a non-null `value` (passed
    /// back to the destructor). No allocation for the first 32 keys of a
    /// process (glibc keeps their values in the thread descriptor).
    pub(crate) fn arm(self, value: *mut c_void) -> bool {
        // SAFETY: the key was created by `create`.
        unsafe { libc::pthread_setspecific(self.0, value) == 0 }
    }
}

/// Registers fork handlers; `false` if the C library refused (out of memory).
pub(crate) fn on_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) -> bool {
    // SAFETY: the handlers are `extern "C"` functions that never unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Runs `f` when the process exits normally (`atexit`); `false` if the C
/// library refused.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is an `extern "C" fn()` that never unwinds.
    unsafe { libc::atexit(f) == 0 }
}
