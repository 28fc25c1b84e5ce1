//! Public API: futures — `NoAllocFuture` guards each poll of an inner
//! future, never the thread across `.await`s.

use core::fmt;
use core::future::Future;
use core::panic::Location;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::guard::NoAllocGuard;
use crate::state::policy::Policy;

pin_project! {
    /// A future that forbids heap operations while its inner future is being
    /// polled, and only then.
    ///
    /// Each call to [`poll`](Future::poll) makes a [`NoAllocGuard`] with the
    /// adapter's [`Policy`] on the polling thread, polls the inner future, and
    /// drops the guard before returning. So:
    /// - what the inner future does inside a poll is checked, on whichever
    ///   thread polls it (a work-stealing runtime may move the task between
    ///   threads from one poll to the next);
    /// - what the executor does between polls (queueing the task, waking,
    ///   running other tasks) is never blamed on it;
    /// - the adapter holds no guard while it waits, so it is `Send` whenever the
    ///   inner future is, and can be spawned on any runtime.
    ///
    /// With `Policy::Panic`, a poll that touched the heap panics as it returns
    /// (the runtime then reports the task as panicked, e.g. tokio's
    /// `JoinError::is_panic`); the message names the offending call's file and
    /// line.
    ///
    /// # Why not hold a `NoAllocGuard` across `.await`?
    ///
    /// A guard forbids allocation on *the thread* that made it, for as long as
    /// it lives. Held across an `.await` inside an `async` block, it would stay
    /// armed while the task is suspended, so the executor's own work on that
    /// thread (and every other task it runs there) would be reported as this
    /// task's violation; and if the task resumed on another thread, the guard
    /// would go on arming the first thread while the second ran unguarded. The
    /// guard is `!Send` for that reason, so a multi-threaded runtime refuses such
    /// a future. Guard each poll instead, with this adapter,
    /// [`NoAllocFutureExt::no_alloc`], or `#[no_alloc]` on the `async fn`.
    ///
    /// # Example
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    ///
    /// fn main() {
    ///     let buf = [1u32, 2, 3];
    ///     let sum = async { buf.iter().sum::<u32>() };
    ///     let mut fut = pin!(NoAllocFuture::new(sum, Policy::Panic));
    ///     let mut cx = Context::from_waker(Waker::noop());
    ///     assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(6));
    /// }
    /// ```
    #[must_use = "futures do nothing unless polled: `.await` it or spawn it"]
    pub struct NoAllocFuture<F> {
        #[pin]
        inner: F,
        policy: Policy,
        allow_frees: bool,
        site: &'static Location<'static>,
    }
}

impl<F: Future> NoAllocFuture<F> {
    /// Wraps `future` so that each of its polls forbids every heap operation
    /// (alloc, alloc_zeroed, realloc, dealloc) on the polling thread.
    ///
    /// The adapter remembers where it was made ([`location`](Self::location)).
    ///
    /// # Panics
    ///
    /// With `Policy::Panic`, a poll that touched the heap panics as it returns.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    ///
    /// # fn main() {
    /// let fut = NoAllocFuture::new(async { std::hint::black_box(vec![1, 2, 3]) }, Policy::Panic);
    /// let caught = std::panic::catch_unwind(|| {
    ///     std::pin::pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
    /// });
    /// assert!(caught.is_err()); // the poll allocated
    /// # }
    /// ```
    #[track_caller]
    #[inline]
    pub fn new(future: F, policy: Policy) -> Self {
        Self::make(future, policy, false, Location::caller())
    }

    /// Wraps `future` so that each of its polls forbids allocations and
    /// reallocations but lets frees through (see
    /// [`NoAllocGuard::allowing_frees`]).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    ///
    /// # fn main() {
    /// let old = vec![1, 2, 3];
    /// let fut = NoAllocFuture::allowing_frees(async move { drop(old) }, Policy::Panic);
    /// let mut fut = std::pin::pin!(fut);
    /// let poll = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// assert_eq!(poll, Poll::Ready(())); // freeing is allowed
    /// # }
    /// ```
    #[track_caller]
    #[inline]
    pub fn allowing_frees(future: F, policy: Policy) -> Self {
        Self::make(future, policy, true, Location::caller())
    }

    fn make(inner: F, policy: Policy, allow_frees: bool, site: &'static Location<'static>) -> Self {
        NoAllocFuture {
            inner,
            policy,
            allow_frees,
            site,
        }
    }
}

impl<F> NoAllocFuture<F> {
    /// The policy each poll's guard is made with.
    ///
    /// ```
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// let fut = NoAllocFuture::new(async {}, Policy::LogBacktrace);
    /// assert_eq!(fut.policy(), Policy::LogBacktrace);
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Whether frees are allowed during polls (made with
    /// [`allowing_frees`](Self::allowing_frees)).
    ///
    /// ```
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// assert!(!NoAllocFuture::new(async {}, Policy::Panic).allows_frees());
    /// assert!(NoAllocFuture::allowing_frees(async {}, Policy::Panic).allows_frees());
    /// ```
    pub fn allows_frees(&self) -> bool {
        self.allow_frees
    }

    /// Where the adapter was made (for `#[no_alloc]` on an `async fn`: the
    /// function's name).
    ///
    /// ```
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// let fut = NoAllocFuture::new(async {}, Policy::Panic);
    /// assert_eq!(fut.location().line(), line!() - 1);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.site
    }

    /// Unwraps the inner future (only possible before the adapter is pinned).
    ///
    /// ```
    /// use alloc_guard::{NoAllocFuture, Policy};
    /// let fut = NoAllocFuture::new(std::future::ready(7), Policy::Panic);
    /// let ready: std::future::Ready<i32> = fut.into_inner();
    /// assert_eq!(ready.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> F {
        self.inner
    }

    /// The guard for one poll, on the polling thread; its reports name
    /// where the adapter was made.
    #[inline]
    fn guard(&self) -> NoAllocGuard {
        NoAllocGuard::made_at(self.policy, self.allow_frees, self.site)
    }
}

impl<F: Future> Future for NoAllocFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _guard = self.guard();
        self.project().inner.poll(cx)
        // `_guard` drops here, before the executor gets control back:
        // with `Policy::Panic` it panics if this poll touched the heap.
    }
}

impl<F> fmt::Debug for NoAllocFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoAllocFuture")
            .field("policy", &self.policy)
            .field("allow_frees", &self.allow_frees)
            .field("location", &self.site)
            .finish_non_exhaustive()
    }
}

/// `.no_alloc(policy)` on any future: wraps it in a [`NoAllocFuture`].
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocFutureExt, Policy};
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// fn main() {
///     let samples = [0.5f32, 1.5];
///     let fut = async { samples.iter().map(|s| s * 2.0).sum::<f32>() }.no_alloc(Policy::Panic);
///     let poll = std::pin::pin!(fut).poll(&mut Context::from_waker(Waker::noop()));
///     assert_eq!(poll, Poll::Ready(4.0));
/// }
/// ```
pub trait NoAllocFutureExt: Future + Sized {
    /// Forbids every heap operation during each poll of `self`; see
    /// [`NoAllocFuture::new`].
    ///
    /// ```
    /// use alloc_guard::{NoAllocFutureExt, Policy};
    /// let fut = std::future::ready(1).no_alloc(Policy::Abort);
    /// assert_eq!(fut.policy(), Policy::Abort);
    /// ```
    #[track_caller]
    fn no_alloc(self, policy: Policy) -> NoAllocFuture<Self> {
        NoAllocFuture::make(self, policy, false, Location::caller())
    }

    /// Forbids allocations but lets frees through during each poll of
    /// `self`; see [`NoAllocFuture::allowing_frees`].
    ///
    /// ```
    /// use alloc_guard::{NoAllocFutureExt, Policy};
    /// let fut = std::future::ready(1).no_alloc_allowing_frees(Policy::Panic);
    /// assert!(fut.allows_frees());
    /// ```
    #[track_caller]
    fn no_alloc_allowing_frees(self, policy: Policy) -> NoAllocFuture<Self> {
        NoAllocFuture::make(self, policy, true, Location::caller())
    }
}

impl<F: Future> NoAllocFutureExt for F {}
