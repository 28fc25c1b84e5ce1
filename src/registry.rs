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
use core::sync::atomic::Ordering::{Acquire, Release};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::thread_state::{Counters, ThreadState, system, with_state};
use crate::violation::{Event, Operation};

/// Head of the intrusive list of live threads' states (changed and walked
/// only with `LOCKED` held).
static LIVE: AtomicPtr<ThreadState> = AtomicPtr::new(ptr::null_mut());

/// The registry's lock: a spin lock, held for a few list operations at a
/// time; never held while allocating. A fork handler holds it across
/// `fork()`, so a child never inherits it locked by a thread it lacks.
static LOCKED: AtomicBool = AtomicBool::new(false);

/// Totals of threads that have left, and of their operations after leaving.
pub(crate) static RETIRED: Counters = Counters::new();

struct Locked;

impl Drop for Locked {
    fn drop(&mut self) {
        unlock();
    }
}

fn acquire() {
    while LOCKED
        .compare_exchange_weak(false, true, Acquire, Relaxed)
        .is_err()
    {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

fn unlock() {
    LOCKED.store(false, Release);
}

fn lock() -> Locked {
    acquire();
    Locked
}

extern "C" fn before_fork() {
    // Join first: a prepare handler that runs after this one may make this
    // thread's first allocation, which would wait on the lock we hold.
    with_state(|s| {
        if s.has_system(system::UNREGISTERED) {
            join(s);
        }
    });
    acquire();
}

extern "C" fn after_fork_in_parent() {
    unlock();
}

/// In a forked child only the forking thread exists; the other threads'
/// states stay mapped but their TLS blocks will be reused by the child's
/// new threads. Fold their counts into `RETIRED` (the totals stay the same)
/// and keep only this thread in the list.
extern "C" fn after_fork_in_child() {
    let me = with_state(|s| s as *const ThreadState).cast_mut();
    let mut node = LIVE.load(Relaxed);
    let mut registered = false;
    while !node.is_null() {
        // SAFETY: the list was consistent at the fork (we held the lock)
        // and its nodes' memory is still mapped in the child.
        let state = unsafe { &*node };
        if node == me {
            registered = true;
        } else {
            add(&RETIRED, &state.counters);
        }
        node = state.next.load(Relaxed);
    }
    if registered {
        // SAFETY: `me` is this thread's own, live state.
        let state = unsafe { &*me };
        state.prev.store(ptr::null_mut(), Relaxed);
        state.next.store(ptr::null_mut(), Relaxed);
    }
    LIVE.store(if registered { me } else { ptr::null_mut() }, Relaxed);
    unlock();
}

/// Adds this thread to the registry and arms its exit hook.
///
/// Runs inside the allocator on a thread's first operation; it neither
/// allocates (pthread key slots below 32 need no memory) nor unwinds.
#[cold]
pub(crate) fn join(state: &ThreadState) {
    state.set_system(system::UNREGISTERED, false);
    let me = state as *const ThreadState;
    // SAFETY: `key` was created by `pthread_key_create`; the value is only
    // used as a non-null marker passed back to `leave`.
    let armed =
        exit_key().is_some_and(|key| unsafe { libc::pthread_setspecific(key, me.cast()) } == 0);
    if !armed {
        // Without an exit hook the thread could never leave the list: count
        // it in the retired totals from the start instead.
        state.set_system(system::RETIRED, true);
        return;
    }
    let _locked = lock();
    let head = LIVE.load(Relaxed);
    state.next.store(head, Relaxed);
    state.prev.store(ptr::null_mut(), Relaxed);
    if !head.is_null() {
        // SAFETY: `head` is a registered, live thread's state (lock held).
        unsafe { (*head).prev.store(me.cast_mut(), Relaxed) };
    }
    LIVE.store(me.cast_mut(), Relaxed);
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
                if rc == 0 {
                    // SAFETY: the handlers are `extern "C"` functions that
                    // neither allocate nor unwind.
                    unsafe {
                        libc::pthread_atfork(
                            Some(before_fork),
                            Some(after_fork_in_parent),
                            Some(after_fork_in_child),
                        )
                    };
                }
                let value = if rc == 0 { key as usize + 3 } else { 2 };
                KEY.store(value, Release);
            }
            1 => core::hint::spin_loop(),
            2 => return None,
            value => {
                core::sync::atomic::fence(Acquire);
                return Some((value - 3) as libc::pthread_key_t);
            }
        }
    }
}

/// Thread-exit hook: fold this thread's counters into `RETIRED` and unlink.
extern "C" fn leave(_marker: *mut libc::c_void) {
    with_state(|state| {
        let _locked = lock();
        add(&RETIRED, &state.counters);
        let prev = state.prev.load(Relaxed);
        let next = state.next.load(Relaxed);
        if prev.is_null() {
            LIVE.store(next, Relaxed);
        } else {
            // SAFETY: neighbours are registered, live threads (lock held).
            unsafe { (*prev).next.store(next, Relaxed) };
        }
        if !next.is_null() {
            // SAFETY: as above.
            unsafe { (*next).prev.store(prev, Relaxed) };
        }
        state.set_system(system::RETIRED, true);
        state.unmap_records();
    });
}

/// Adds an operation made after this thread left (by a later TLS
/// destructor) to the retired totals, which other threads write too.
pub(crate) fn count_retired(e: Event) {
    let (allocs, deallocs, reallocs, allocated, freed) = match e.op {
        Operation::Alloc | Operation::AllocZeroed => (1, 0, 0, e.size, 0),
        Operation::Dealloc => (0, 1, 0, 0, e.size),
        Operation::Realloc => (
            0,
            0,
            1,
            e.size.saturating_sub(e.old_size),
            e.old_size.saturating_sub(e.size),
        ),
    };
    RETIRED.allocs.fetch_add(allocs, Relaxed);
    RETIRED.deallocs.fetch_add(deallocs, Relaxed);
    RETIRED.reallocs.fetch_add(reallocs, Relaxed);
    RETIRED.bytes_allocated.fetch_add(allocated as u64, Relaxed);
    RETIRED.bytes_freed.fetch_add(freed as u64, Relaxed);
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
    let _locked = lock();
    add(&total, &RETIRED);
    let mut node = LIVE.load(Relaxed);
    while !node.is_null() {
        // SAFETY: every node in the list is a live thread's state; the lock
        // we hold keeps its owner from leaving (and its TLS from being freed).
        let state = unsafe { &*node };
        add(&total, &state.counters);
        node = state.next.load(Relaxed);
    }
    total
}
