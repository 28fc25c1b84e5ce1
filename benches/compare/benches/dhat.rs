//! dhat 0.3 `dhat::Alloc` with no profiler running.
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    alloc_guard_compare::main(alloc_guard_compare::Peer::plain("dhat"));
}
