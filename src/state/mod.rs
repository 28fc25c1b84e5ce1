//! State: the data every layer above reads — this thread's allocator-side
//! state, counter banks, events and policies. Plain data and const
//! thread-locals; reachable from `GlobalAlloc`.

pub(crate) mod counters;
pub(crate) mod event;
pub(crate) mod policy;
pub(crate) mod thread_state;
