//! A minimal executor for tests: polls a future on the calling thread with
//! a no-op waker, no runtime. Include it with
//! `#[path = "common/executor.rs"] mod executor;` (or `../common/…` from a
//! test directory's `main.rs`).

// Each test binary uses a different part of this helper.
#![allow(dead_code)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Condvar, Mutex};
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

/// A one-shot wake-up from outside the runtime: the task parks its waker
/// here (no allocation: a waker clone is a reference count), and a helper
/// thread wakes it a little later.
#[derive(Default)]
pub struct Alarm {
    slot: Mutex<(Option<Waker>, bool)>,
    changed: Condvar,
}

impl Alarm {
    /// Pending until the helper thread has rung.
    pub fn wait(self: &Arc<Self>) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let mut slot = self.slot.lock().unwrap();
            if std::mem::take(&mut slot.1) {
                return Poll::Ready(());
            }
            slot.0 = Some(cx.waker().clone());
            self.changed.notify_one();
            Poll::Pending
        })
    }

    /// Runs on a helper thread until `stop`: rings each parked waker after
    /// a short delay.
    pub fn ring_until(&self, stop: &std::sync::atomic::AtomicBool) {
        use std::sync::atomic::Ordering::Relaxed;
        while !stop.load(Relaxed) {
            let waker = {
                let mut slot = self.slot.lock().unwrap();
                while slot.0.is_none() && !stop.load(Relaxed) {
                    slot = self
                        .changed
                        .wait_timeout(slot, std::time::Duration::from_millis(20))
                        .unwrap()
                        .0;
                }
                slot.1 = true;
                slot.0.take()
            };
            std::thread::sleep(std::time::Duration::from_millis(2));
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}
