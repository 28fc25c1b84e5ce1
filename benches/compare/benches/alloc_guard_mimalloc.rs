//! `alloc_guard::CountingAlloc<MiMalloc>` (workload 7).
use alloc_guard::CountingAlloc;
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOC: CountingAlloc<MiMalloc> = CountingAlloc::new(MiMalloc);

fn main() {
    alloc_guard_compare::main(alloc_guard_compare::Peer {
        mimalloc: true,
        ..alloc_guard_compare::Peer::plain("alloc_guard-mimalloc")
    });
}
