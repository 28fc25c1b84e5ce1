//! dhat 0.3 `dhat::Alloc` with its testing heap profiler running
//! (`Profiler::builder().testing().build()`), `HeapStats` as the measure.
use alloc_guard_compare::{Peer, small_pair};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    alloc_guard_compare::main(Peer {
        measure: Some(|| {
            let before = dhat::HeapStats::get().total_blocks;
            small_pair();
            dhat::HeapStats::get().total_blocks - before
        }),
        ..Peer::plain("dhat-testing")
    });
}
