//! Platform: Windows, gnu and msvc ABIs (Win32 calls through `windows-sys`).
//!
//! What differs from unix, and why:
//! - stderr is the standard error handle, written with `WriteFile` (bytes
//!   as they are: a console shows UTF-8 correctly only with code page
//!   65001; pipes and files get the bytes unchanged);
//! - the thread-exit hook is a fiber-local storage (FLS) slot with a
//!   callback; it may run before Rust's own TLS destructors, which is
//!   sound (operations after it count in the shared bank);
//! - thread names come from `GetThreadDescription` (where std puts the name
//!   of a named thread), read once per thread and cached; "main" is the
//!   thread that ran this module's static initialisers;
//! - there is no `fork`, so no fork handlers.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::Cell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::{INVALID_HANDLE_VALUE, LocalFree};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
use windows_sys::Win32::System::Memory::{
    MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE, VirtualAlloc, VirtualFree,
};
use windows_sys::Win32::System::Threading::{
    FLS_OUT_OF_INDEXES, FlsAlloc, FlsFree, FlsSetValue, GetCurrentThread, GetCurrentThreadId,
    GetThreadDescription,
};

use super::write_error::WriteError;

/// Writes as much of `bytes` as one `WriteFile` takes to the standard error
/// handle, outside std's stderr lock.
pub(crate) fn write_stderr(bytes: &[u8]) -> Result<usize, WriteError> {
    // SAFETY: GetStdHandle has no preconditions.
    let handle = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return Err(WriteError::Failed); // no stderr (a GUI process)
    }
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let mut written = 0u32;
    // SAFETY: `bytes` is valid for reads of `len` bytes, `written` is a
    // valid out-pointer, and a null OVERLAPPED asks for a synchronous write.
    let ok = unsafe {
        WriteFile(
            handle,
            bytes.as_ptr(),
            len,
            &mut written,
            core::ptr::null_mut(),
        )
    } != 0;
    // Windows has no EINTR: any failure, or a write of nothing, is final.
    if ok && written > 0 {
        Ok(written as usize)
    } else {
        Err(WriteError::Failed)
    }
}

/// Maps `len` bytes of zeroed, private, read-write memory outside the heap;
/// null on failure.
pub(crate) fn map_pages(len: usize) -> *mut u8 {
    // SAFETY: reserving and committing fresh pages with no address hint has
    // no preconditions; the result (zeroed pages, or null) is returned as is.
    unsafe {
        VirtualAlloc(
            core::ptr::null(),
            len,
            MEM_COMMIT | MEM_RESERVE,
            PAGE_READWRITE,
        )
    }
    .cast()
}

/// Unmaps memory from [`map_pages`].
///
/// # Safety
///
/// `ptr` and `len` come from one successful `map_pages(len)`, and nothing
/// refers into the mapping any more.
pub(crate) unsafe fn unmap_pages(ptr: *mut u8, _len: usize) {
    // SAFETY: the caller guarantees the region is ours (the base address
    // VirtualAlloc returned, as MEM_RELEASE with size 0 requires) and unused.
    unsafe { VirtualFree(ptr.cast(), 0, MEM_RELEASE) };
}

/// The id of the thread that ran this module's static initialisers (the
/// main thread of an executable; in a DLL, the thread that loaded it);
/// 0 until then.
static MAIN_THREAD: AtomicU32 = AtomicU32::new(0);

extern "C" fn remember_main_thread() {
    // SAFETY: GetCurrentThreadId has no preconditions.
    MAIN_THREAD.store(unsafe { GetCurrentThreadId() }, Ordering::Relaxed);
}

/// Run by the C runtime's initialisers (`.CRT$XCU`, the section C++ static
/// constructors use), on the thread that starts the module, before `main`.
#[used]
#[unsafe(link_section = ".CRT$XCU")]
static REMEMBER_MAIN_THREAD: extern "C" fn() = remember_main_thread;

/// A thread's name as [`thread_name`] returns it, cached after the first
/// read (const, `Copy`, no `Drop`: readable inside the allocator).
#[derive(Clone, Copy)]
struct CachedName {
    bytes: [u8; 32],
    len: usize,
}

thread_local! {
    static NAME: Cell<Option<CachedName>> = const { Cell::new(None) };
}

/// Fills `buf` with the calling thread's name (`main` for the main thread,
/// as Rust calls it) and returns its length and the thread's id.
///
/// The first call on a thread asks `GetThreadDescription`, which allocates
/// its answer with `LocalAlloc` (the process heap, not Rust's global
/// allocator: nothing is counted and nothing re-enters alloc_guard; it is
/// freed at once) and takes the heap's lock, which is re-entrant and never
/// held by alloc_guard. Later calls on the thread read the cached name: no
/// system call, no allocation. A name set after the first read is not seen.
pub(crate) fn thread_name(buf: &mut [u8; 32]) -> (usize, i64) {
    // SAFETY: GetCurrentThreadId has no preconditions.
    let tid = unsafe { GetCurrentThreadId() };
    let cached = NAME.try_with(Cell::get).ok().flatten();
    let name = cached.unwrap_or_else(|| {
        let name = if tid == MAIN_THREAD.load(Ordering::Relaxed) {
            utf8_name(b"main")
        } else {
            description()
        };
        let _ = NAME.try_with(|n| n.set(Some(name)));
        name
    });
    *buf = name.bytes;
    (name.len, i64::from(tid))
}

fn utf8_name(name: &[u8]) -> CachedName {
    let mut out = CachedName {
        bytes: [0; 32],
        len: 0,
    };
    for (to, from) in out.bytes.iter_mut().zip(name) {
        *to = *from;
        out.len += 1;
    }
    out
}

/// The calling thread's description, as UTF-8 (cut at a character boundary
/// to fit), or empty.
fn description() -> CachedName {
    let mut out = utf8_name(b"");
    let mut wide: *mut u16 = core::ptr::null_mut();
    // SAFETY: GetCurrentThread's pseudo-handle is valid for the calling
    // thread; `wide` is a valid out-pointer.
    let hr = unsafe { GetThreadDescription(GetCurrentThread(), &mut wide) };
    if hr < 0 || wide.is_null() {
        return out;
    }
    let mut len = 0;
    // SAFETY: on success `wide` is a NUL-terminated UTF-16 string: every
    // unit up to and including the NUL is readable.
    while unsafe { wide.add(len).read() } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL, read above, are initialised
    // and stay valid until the `LocalFree` below.
    let units = unsafe { core::slice::from_raw_parts(wide, len) };
    for c in char::decode_utf16(units.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let Some(room) = out.bytes.get_mut(out.len..out.len + c.len_utf8()) else {
            break;
        };
        c.encode_utf8(room);
        out.len += c.len_utf8();
    }
    // SAFETY: `wide` was allocated by GetThreadDescription with LocalAlloc,
    // and is no longer read.
    unsafe { LocalFree(wide.cast()) };
    out
}

/// The destructor [`ExitHook::create`] was given (one per process: the
/// counter registry's), called by [`run_exit_hook`].
static ON_EXIT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The FLS callback: the system calls it, on the exiting thread, with the
/// slot's non-null value (also for a fiber deleted with `DeleteFiber`).
unsafe extern "system" fn run_exit_hook(value: *const c_void) {
    let f = ON_EXIT.load(Ordering::Acquire);
    if !f.is_null() {
        // SAFETY: `f` was stored by `create` from an
        // `unsafe extern "C" fn(*mut c_void)`, and is called with the value
        // `arm` set, as that function expects.
        let f: unsafe extern "C" fn(*mut c_void) = unsafe { core::mem::transmute(f) };
        // SAFETY: as above.
        unsafe { f(value.cast_mut()) };
    }
}

/// A per-thread destructor: an FLS slot whose callback runs when a thread
/// that set a value for it exits (during the loader's thread detach, before
/// or after Rust's TLS destructors: the registry is correct either way).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExitHook(u32);

impl ExitHook {
    /// Allocates the slot (no allocation through Rust's allocator).
    pub(crate) fn create(on_exit: unsafe extern "C" fn(*mut c_void)) -> Option<ExitHook> {
        ON_EXIT.store(on_exit as *mut c_void, Ordering::Release);
        // SAFETY: `run_exit_hook` has the signature of an FLS callback and
        // never unwinds.
        let index = unsafe { FlsAlloc(Some(run_exit_hook)) };
        (index != FLS_OUT_OF_INDEXES).then_some(ExitHook(index))
    }

    /// Frees a slot that lost a race to be the one in use.
    pub(crate) fn delete(self) {
        // SAFETY: the slot was allocated by `create` and no thread set a
        // value for it (it was never published), so no callback runs.
        unsafe { FlsFree(self.0) };
    }

    /// The slot as a non-zero number (to keep it in an atomic).
    pub(crate) fn to_bits(self) -> usize {
        self.0 as usize + 1
    }

    /// The slot from [`to_bits`](Self::to_bits).
    pub(crate) fn from_bits(bits: usize) -> ExitHook {
        ExitHook(bits.wrapping_sub(1) as u32)
    }

    /// Arms the hook for the calling thread with a non-null `value` (passed
    /// back to the callback). The first FLS value a thread sets may make
    /// the system allocate the thread's FLS block on the process heap (not
    /// through Rust's allocator).
    pub(crate) fn arm(self, value: *mut c_void) -> bool {
        // SAFETY: the slot was allocated by `create`.
        unsafe { FlsSetValue(self.0, value) != 0 }
    }
}

/// Windows has no `fork`: nothing to register.
pub(crate) fn on_fork(
    _prepare: unsafe extern "C" fn(),
    _parent: unsafe extern "C" fn(),
    _child: unsafe extern "C" fn(),
) -> bool {
    true
}

unsafe extern "C" {
    /// The C runtime's (msvcrt or the UCRT, both ABIs link one).
    fn atexit(f: extern "C" fn()) -> core::ffi::c_int;
}

/// How many functions [`at_exit`] keeps.
const AT_EXIT_SLOTS: usize = 4;

/// The functions [`at_exit`] registered (null: none), in order, how many
/// slots are taken, and whether they ran.
static AT_EXIT: [AtomicPtr<c_void>; AT_EXIT_SLOTS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; AT_EXIT_SLOTS];
static AT_EXIT_TAKEN: AtomicUsize = AtomicUsize::new(0);
static AT_EXIT_RAN: AtomicBool = AtomicBool::new(false);

/// Runs the registered functions once, last registered first (as `atexit`
/// does), whichever way the process ends.
extern "C" fn run_at_exit() {
    if AT_EXIT_RAN.swap(true, Ordering::AcqRel) {
        return;
    }
    for slot in AT_EXIT.iter().rev() {
        let f = slot.load(Ordering::Acquire);
        if !f.is_null() {
            // SAFETY: `f` was stored by `at_exit` from an `extern "C" fn()`.
            let f: extern "C" fn() = unsafe { core::mem::transmute(f) };
            f();
        }
    }
}

/// `DLL_PROCESS_DETACH`: the module is unloaded, or the process ends.
const DLL_PROCESS_DETACH: u32 = 0;

/// A TLS callback, run by the loader for this module on every thread start
/// and end and at process detach, which `ExitProcess` reaches too.
unsafe extern "system" fn on_process_detach(_module: *mut c_void, reason: u32, _: *mut c_void) {
    if reason == DLL_PROCESS_DETACH {
        run_at_exit();
    }
}

/// In the module's TLS callback array (`.CRT$XL*`, sorted by name): `XLAB`
/// runs before std's own callback (`XLB`), which destroys TLS.
#[used]
#[unsafe(link_section = ".CRT$XLAB")]
static ON_PROCESS_DETACH: unsafe extern "system" fn(*mut c_void, u32, *mut c_void) =
    on_process_detach;

/// Runs `f` once when the process exits normally; `false` if the C runtime
/// refused or the 4 slots are taken. Through the C runtime's `atexit` when `main` returns (or on
/// `exit`), and from a TLS callback at process detach otherwise:
/// `std::process::exit` calls `ExitProcess`, which skips `atexit`. There,
/// the other threads are already gone; a lock one of them held makes the
/// system end the process without the output.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    let index = AT_EXIT_TAKEN.fetch_add(1, Ordering::AcqRel);
    let Some(slot) = AT_EXIT.get(index) else {
        return false;
    };
    slot.store(f as *mut c_void, Ordering::Release);
    // SAFETY: `run_at_exit` is an `extern "C" fn()` that never unwinds.
    index > 0 || unsafe { atexit(run_at_exit) == 0 }
}
