//! Does this allocate? Runs a catalogue of everyday snippets, each measured
//! with `alloc_guard::measure`, and prints a markdown table: the snippet,
//! its allocations, the bytes allocated, and a verdict.
//!
//! ```text
//! cargo run --example explore              # debug build
//! cargo run --release --example explore    # the optimiser changes some answers
//! ```
//!
//! The README's two tables are this output; regenerate them with
//!
//! ```text
//! for p in dev release; do cargo run -q --profile $p --example explore; done
//! ```
//!
//! Rows marked † differ between debug and release builds; rows marked ‡
//! depend on the process (a first use, the environment, std's internals).
//! The catalogue lives in `examples/explore/catalogue.rs`; `tests/explore.rs`
//! asserts the counts of the unmarked rows in both profiles.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "explore/catalogue.rs"]
mod catalogue;

use catalogue::{CATALOGUE, Expect, allocations, verdict};

fn main() {
    // Measure everything first: printing allocates (the first `println!`
    // is one of the snippets).
    let results: Vec<_> = CATALOGUE.iter().map(|s| (s, (s.run)())).collect();

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("Does this allocate? ({profile} build)");
    println!();
    println!("| snippet | allocations | bytes | frees | verdict |");
    println!("|---|---|---|---|---|");
    for (snippet, stats) in &results {
        let mark = match snippet.expect {
            Expect::Stable { .. } => "",
            Expect::Optimiser => " †",
            Expect::Environment => " ‡",
        };
        println!(
            "| `{}` | {} | {} | {} | {}{mark} |",
            snippet.code.replace('|', "\\|"),
            allocations(stats),
            stats.bytes_allocated,
            stats.deallocs,
            verdict(stats),
        );
    }
    println!();
    println!(
        "† differs between debug and release builds; ‡ depends on the process or environment."
    );
}
