//! A minimal executor for tests: polls a future on the calling thread with
//! a no-op waker, no runtime. Include it with
//! `#[path = "common/executor.rs"] mod executor;` (or `../common/…` from a
//! test directory's `main.rs`).

// Each test binary uses a different part of this helper.
#![allow(dead_code)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

/// Returns `Pending` `n` times (waking itself each time, allocating
/// nothing), then `Ready`.
pub struct Yield(pub u32);

impl Future for Yield {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls `fut` to completion on this thread, running `between` after each
/// pending poll (where a real executor does its own work); returns the
/// output and the number of polls.
pub fn block_on_with<F: Future>(fut: F, mut between: impl FnMut()) -> (F::Output, u32) {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return (v, polls);
        }
        between();
    }
}
