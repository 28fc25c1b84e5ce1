//! The registry of live threads, so `global_stats` can sum per-thread
//! counters on read instead of writing a shared cache line on every
//! allocation.
//!
//! A thread joins on its first operation through `CountingAlloc` (a cold
//! path, once per thread) and leaves from a pthread key destructor, which
//! glibc runs after every Rust TLS destructor. Leaving folds the thread's
//! counters into `RETIRED`; operations made after that (by later
//! destructors) are added to `RETIRED` directly. The lock is taken only on
//! join, on leave and by `global_stats`, never on the hot path, and nothing
//! allocates while it is held.

use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use crate::thread_state::{Counters, ThreadState, system, with_state};

/// Head of the intrusive list of live threads' states.
struct Live(*const ThreadState);

// SAFETY: the pointer is only dereferenced under the `LIVE` lock, while the
// thread that owns the state is blocked from leaving (see `leave`).
unsafe impl Send for Live {}

static LIVE: Mutex<Live> = Mutex::new(Live(ptr::null()));

/// Totals of threads that have left, and of their operations after leaving.
pub(crate) static RETIRED: Counters = Counters::new();

fn lock() -> MutexGuard<'static, Live> {
    // Nothing panics while holding the lock, but never let poison matter.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds this thread to the registry and arms its exit hook.
///
/// Runs inside the allocator on a thread's first operation; it neither
/// allocates (pthread key slots below 32 need no memory) nor unwinds.
#[cold]
pub(crate) fn join(state: &ThreadState) {
    state.set_system(system::UNREGISTERED, false);
    let me = state as *const ThreadState;
    if let Some(key) = exit_key() {
        // SAFETY: `key` was created by `pthread_key_create`; the value is
        // only used as a non-null marker passed back to `leave`.
        unsafe { libc::pthread_setspecific(key, me.cast()) };
    }
    let mut live = lock();
    state.next.store(live.0.cast_mut(), Relaxed);
    state.prev.store(ptr::null_mut(), Relaxed);
    if !live.0.is_null() {
        // SAFETY: `live.0` is a registered, live thread's state (lock held).
        unsafe { (*live.0).prev.store(me.cast_mut(), Relaxed) };
    }
    live.0 = me;
}

/// The pthread key whose destructor runs `leave`, created once.
fn exit_key() -> Option<libc::pthread_key_t> {
    // 0 = not yet, 1 = being created, 2 = failed, else key + 3.
    static KEY: AtomicUsize = AtomicUsize::new(0);
    loop {
        match KEY.load(Relaxed) {
            0 => {
                if KEY.compare_exchange(0, 1, Relaxed, Relaxed).is_err() {
                    continue;
                }
                let mut key: libc::pthread_key_t = 0;
                // SAFETY: `key` is a valid out-pointer; `leave` has the
                // signature pthread expects of a destructor.
                let rc = unsafe { libc::pthread_key_create(&mut key, Some(leave)) };
                let value = if rc == 0 { key as usize + 3 } else { 2 };
                KEY.store(value, core::sync::atomic::Ordering::Release);
            }
            1 => core::hint::spin_loop(),
            2 => return None,
            value => {
                core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
                return Some((value - 3) as libc::pthread_key_t);
            }
        }
    }
}

/// Thread-exit hook: fold this thread's counters into `RETIRED` and unlink.
extern "C" fn leave(_marker: *mut libc::c_void) {
    with_state(|state| {
        let mut live = lock();
        add(&RETIRED, &state.counters);
        let prev = state.prev.load(Relaxed);
        let next = state.next.load(Relaxed);
        if prev.is_null() {
            live.0 = next;
        } else {
            // SAFETY: neighbours are registered, live threads (lock held).
            unsafe { (*prev).next.store(next, Relaxed) };
        }
        if !next.is_null() {
            // SAFETY: as above.
            unsafe { (*next).prev.store(prev, Relaxed) };
        }
        state.set_system(system::RETIRED, true);
    });
}

fn add(into: &Counters, from: &Counters) {
    let pairs: [(&AtomicU64, &AtomicU64); 5] = [
        (&into.allocs, &from.allocs),
        (&into.deallocs, &from.deallocs),
        (&into.reallocs, &from.reallocs),
        (&into.bytes_allocated, &from.bytes_allocated),
        (&into.bytes_freed, &from.bytes_freed),
    ];
    for (into, from) in pairs {
        into.fetch_add(from.load(Relaxed), Relaxed);
    }
}

/// The sum of every live thread's counters and the retired totals.
pub(crate) fn sum() -> Counters {
    let total = Counters::new();
    let live = lock();
    add(&total, &RETIRED);
    let mut node = live.0;
    while !node.is_null() {
        // SAFETY: every node in the list is a live thread's state; the lock
        // we hold keeps its owner from leaving (and its TLS from being freed).
        let state = unsafe { &*node };
        add(&total, &state.counters);
        node = state.next.load(Relaxed);
    }
    total
}
