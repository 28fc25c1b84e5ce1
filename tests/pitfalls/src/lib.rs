//! Two misuses that compile, and the lints that catch them (the README's
//! "Pitfalls"). `.ci/pitfalls.sh` expects clippy to name each.
#![warn(let_underscore_drop, clippy::let_underscore_must_use)]
#![warn(clippy::await_holding_invalid_type)]

use alloc_guard::{NoAllocGuard, Policy};

/// `_` is not a binding: the guard drops on this line and guards nothing.
pub fn dropped_at_once(samples: &mut [f32]) {
    let _ = NoAllocGuard::new(Policy::Panic);
    samples.iter_mut().for_each(|s| *s *= 0.5);
}

/// The guard covers the executor's work while the future is suspended.
pub async fn held_across_await() {
    let _guard = NoAllocGuard::new(Policy::Panic);
    std::future::ready(()).await;
}

/// The fixes: a binding, the statement macro, and a guard per poll.
pub fn fixed(samples: &mut [f32]) {
    let _guard = NoAllocGuard::new(Policy::Panic);
    samples.iter_mut().for_each(|s| *s *= 0.5);
}

/// The statement macro binds the guard to the rest of the block.
pub fn fixed_with_the_macro(samples: &mut [f32]) {
    alloc_guard::no_alloc_scope!(Policy::Panic);
    samples.iter_mut().for_each(|s| *s *= 0.5);
}
