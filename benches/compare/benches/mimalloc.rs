//! Bare `mimalloc::MiMalloc`: the denominator of workload 7.
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOC: MiMalloc = MiMalloc;

fn main() {
    alloc_guard_compare::main(alloc_guard_compare::Peer {
        mimalloc: true,
        ..alloc_guard_compare::Peer::plain("mimalloc")
    });
}
