//! Public API: `measure_future` — what a future did on the heap inside its
//! own polls, summed over its polls and the threads that made them, never
//! the executor's work between polls.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::install;
use super::stats::{AllocStats, measure};

/// Measures each poll of `future` and resolves to its output with what its
/// polls did on the heap, summed: `measure` for a future (alloc_counter's
/// `count_alloc_future`).
///
/// Each poll is measured on the thread that makes it (as [`measure`]
/// does: counts are per thread), so a task that a work-stealing runtime
/// moves between threads is measured on each of them, and only inside its
/// polls: what the executor does between polls (queueing, waking, running
/// other tasks) is never counted. The fields of the result are those of
/// [`AllocStats`], summed over the polls; see [`MeasureFuture`] for
/// `peak_bytes`.
///
/// # Panics
///
/// Here, if [`CountingAlloc`](crate::CountingAlloc) is not the global
/// allocator (the message names the line to add): a measurement that
/// cannot see allocations must not pass for zero.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// fn main() {
///     let task = async {
///         let greeting = std::hint::black_box(String::from("hello")); // 5 bytes
///         greeting.len()
///     }; // the String is freed inside the poll
///     let fut = std::pin::pin!(alloc_guard::measure_future(task));
///     let poll = fut.poll(&mut Context::from_waker(Waker::noop()));
///     let Poll::Ready((len, stats)) = poll else { panic!("still pending") };
///     assert_eq!(len, 5);
///     assert_eq!((stats.allocs, stats.deallocs, stats.bytes_allocated), (1, 1, 5));
///     assert_eq!((stats.peak_bytes, stats.net_bytes()), (5, 0));
/// }
/// ```
#[track_caller]
pub fn measure_future<F: Future>(future: F) -> MeasureFuture<F> {
    install::require("measure_future()");
    MeasureFuture {
        inner: future,
        stats: AllocStats::default(),
    }
}

pin_project! {
    /// The future of [`measure_future`]: polls the inner future inside a
    /// [`measure`] on the polling thread, adds up what each poll did, and
    /// resolves to `(output, stats)`.
    ///
    /// What is counted:
    /// - `allocs`, `deallocs`, `reallocs`, `bytes_allocated`, `bytes_freed`:
    ///   the sums over the polls, each poll counted on its own thread;
    ///   `net_bytes()` is what the future's polls still hold, net.
    /// - `peak_bytes`: the most net bytes the future's polls held at once,
    ///   taking their operations as one running balance with the executor's
    ///   work between polls cut out. Each poll starts at what the polls
    ///   before it left (their summed `net_bytes()`) and its peak is its own
    ///   peak above its start; `peak_bytes` is the highest of these, so a
    ///   future that allocates 8 bytes in one poll, keeps them, and 100 in a
    ///   later one peaks at 108. Memory the task allocated and someone else
    ///   frees between polls (a message it sent, dropped by the receiver)
    ///   still counts as held; memory it frees that was allocated elsewhere
    ///   lowers the balance (never below 0 for the peak).
    /// - `peak_live_allocs`: likewise, the most allocations the polls held
    ///   live at once, as one running balance.
    ///
    /// Not counted: anything outside the inner future's `poll` — creating
    /// and dropping the inner future (a future dropped unfinished, or the
    /// state it still owns when dropped after completing, is dropped
    /// outside every poll), and the executor's own work.
    ///
    /// It is `Send` whenever the inner future is; it holds no guard, so it
    /// forbids nothing (combine it with [`NoAllocFuture`](crate::NoAllocFuture)
    /// for that).
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// use std::future::Future;
    /// use std::hint::black_box;
    /// use std::task::{Context, Poll, Waker};
    ///
    /// fn main() {
    ///     let mut waited = false;
    ///     let task = async {
    ///         let small = black_box(Box::new(1u64)); // poll 1: 8 bytes, kept
    ///         std::future::poll_fn(|cx| {
    ///             if std::mem::replace(&mut waited, true) {
    ///                 Poll::Ready(())
    ///             } else {
    ///                 cx.waker().wake_by_ref();
    ///                 Poll::Pending
    ///             }
    ///         })
    ///         .await;
    ///         let big = black_box(vec![0u8; 100]); // poll 2: 100 bytes
    ///         *small as usize + big.len()
    ///     };
    ///     let mut fut = std::pin::pin!(alloc_guard::measure_future(task));
    ///     let mut cx = Context::from_waker(Waker::noop());
    ///     let mut executor_log = Vec::new();
    ///     let (out, stats) = loop {
    ///         if let Poll::Ready(done) = fut.as_mut().poll(&mut cx) {
    ///             break done;
    ///         }
    ///         assert_eq!(fut.stats().allocs, 1); // so far: the first poll
    ///         executor_log.push("pending".to_string()); // between polls: not counted
    ///     };
    ///     assert_eq!(out, 101);
    ///     assert_eq!((stats.allocs, stats.deallocs, stats.bytes_allocated), (2, 2, 108));
    ///     assert_eq!(stats.peak_bytes, 108); // both held at once, across the polls
    ///     assert_eq!(executor_log.len(), 1);
    /// }
    /// ```
    #[must_use = "futures do nothing unless polled: `.await` it or spawn it"]
    pub struct MeasureFuture<F> {
        #[pin]
        inner: F,
        stats: AllocStats,
    }
}

impl<F> MeasureFuture<F> {
    /// What the polls so far did (the output's stats once it is ready).
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let fut = alloc_guard::measure_future(async { 1 });
    ///     assert!(fut.stats().is_empty()); // not polled yet
    /// }
    /// ```
    pub fn stats(&self) -> AllocStats {
        self.stats
    }
}

impl<F: Future> Future for MeasureFuture<F> {
    type Output = (F::Output, AllocStats);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let (poll, this_poll) = measure(|| inner.poll(cx));
        add_poll(this.stats, &this_poll);
        match poll {
            Poll::Ready(output) => Poll::Ready((output, *this.stats)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Adds one poll's stats to the future's: the counters summed, the peaks as
/// documented on [`MeasureFuture`].
fn add_poll(total: &mut AllocStats, poll: &AllocStats) {
    // The balance at this poll's highest point: what the earlier polls left
    // (net bytes, live allocations), plus this poll's peak above its start.
    let reached = |left: i64, peak: u64| {
        u64::try_from(left.saturating_add(i64::try_from(peak).unwrap_or(i64::MAX))).unwrap_or(0)
    };
    let live = total.allocs.wrapping_sub(total.deallocs) as i64;
    let peak_bytes = total
        .peak_bytes
        .max(reached(total.net_bytes(), poll.peak_bytes));
    let peak_live = total
        .peak_live_allocs
        .max(reached(live, poll.peak_live_allocs));
    *total += *poll;
    (total.peak_bytes, total.peak_live_allocs) = (peak_bytes, peak_live);
}

impl<F> fmt::Debug for MeasureFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeasureFuture")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(allocated: u64, freed: u64, peak: u64) -> AllocStats {
        AllocStats {
            allocs: 1,
            deallocs: 1,
            reallocs: 0,
            bytes_allocated: allocated,
            bytes_freed: freed,
            peak_bytes: peak,
            peak_live_allocs: 1,
        }
    }

    #[test]
    fn the_peak_is_the_highest_point_of_the_running_balance() {
        let mut total = AllocStats::default();
        add_poll(&mut total, &stats(8, 0, 8)); // holds 8
        add_poll(&mut total, &stats(100, 0, 100)); // 8 + 100
        assert_eq!((total.peak_bytes, total.net_bytes()), (108, 108));
        add_poll(&mut total, &stats(0, 108, 0)); // frees both
        add_poll(&mut total, &stats(50, 50, 50)); // 0 + 50
        assert_eq!((total.peak_bytes, total.net_bytes()), (108, 0));
        assert_eq!((total.allocs, total.deallocs), (4, 4));
    }

    #[test]
    fn frees_of_foreign_memory_lower_the_balance_but_not_below_zero() {
        let mut total = AllocStats::default();
        add_poll(&mut total, &stats(0, 64, 0)); // balance -64
        add_poll(&mut total, &stats(32, 0, 32)); // -64 + 32: no new peak
        assert_eq!((total.peak_bytes, total.net_bytes()), (0, -32));
        add_poll(&mut total, &stats(100, 0, 100)); // -32 + 100
        assert_eq!(total.peak_bytes, 68);
    }
}
