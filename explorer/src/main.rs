//! The `alloc-explore` command; see `alloc-explore --help`.

fn main() {
    std::process::exit(alloc_explore::cli::main(std::env::args().skip(1).collect()));
}
