//! `cargo run --release --example quickstart`
//!
//! A guard catching an allocation under each policy, and a permitted
//! allocation inside a forbidden scope. The `Abort` policy kills the
//! process, so that part runs in a child process (this example re-run).

use std::hint::black_box;
use std::process::Command;

use alloc_guard::{NoAllocGuard, Policy, permit_alloc};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

/// A "real-time" function: may use what it was given, must not allocate.
fn mix(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = 0.5 * (x + y);
    }
}

/// The same function with a bug: it allocates a temporary.
fn mix_with_a_bug(out: &mut [f32], a: &[f32], b: &[f32]) {
    let sum: Vec<f32> = a.iter().zip(b).map(|(x, y)| x + y).collect();
    for (o, s) in out.iter_mut().zip(black_box(sum)) {
        *o = 0.5 * s;
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("abort-demo") {
        let (a, b, mut out) = ([1.0; 64], [2.0; 64], [0.0; 64]);
        let _guard = NoAllocGuard::new(Policy::Abort);
        mix_with_a_bug(&mut out, &a, &b); // aborts here
        unreachable!();
    }

    println!(
        "alloc_guard quick start (CountingAlloc installed: {})\n",
        alloc_guard::is_installed()
    );
    let (a, b, mut out) = ([1.0; 64], [2.0; 64], [0.0; 64]);

    println!("1. A guarded scope that does not allocate is silent:");
    {
        let _guard = NoAllocGuard::new(Policy::Panic);
        mix(&mut out, &a, &b);
    }
    println!("   mix() ran under NoAllocGuard, out[0] = {}\n", out[0]);

    // Print panics as one message, without std's backtrace, to keep this short.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map_or("", String::as_str);
        eprintln!("   panic: {msg}");
    }));

    println!("2. Policy::Panic records the violation and panics when the guard drops:");
    let caught = std::panic::catch_unwind(|| {
        let (a, b, mut out) = ([1.0; 64], [2.0; 64], [0.0; 64]);
        let _guard = NoAllocGuard::new(Policy::Panic);
        mix_with_a_bug(&mut out, &a, &b);
    });
    println!("   caught the panic: {}\n", caught.is_err());

    println!("3. Policy::LogBacktrace reports each violation to stderr and goes on:");
    {
        let _guard = NoAllocGuard::new(Policy::LogBacktrace);
        mix_with_a_bug(&mut out, &a, &b);
    }
    println!("   went on, out[0] = {}\n", out[0]);

    println!("4. AllowAllocGuard / permit_alloc: a permitted allocation inside a forbidden scope:");
    {
        let _guard = NoAllocGuard::new(Policy::Panic);
        mix(&mut out, &a, &b);
        permit_alloc(|| {
            let line = format!("mixed {} samples", out.len());
            println!("   {line} (formatted, printed and dropped under permit_alloc)");
        });
    }
    println!();

    println!("5. Policy::Abort prints the report and aborts at once (in a child process):");
    let exe = std::env::current_exe().expect("current_exe");
    let status = Command::new(exe)
        .arg("abort-demo")
        .env("RUST_BACKTRACE", "0")
        .status()
        .expect("failed to re-run this example");
    println!("   child exited with {status}");

    let (_, stats) = alloc_guard::measure(|| mix_with_a_bug(&mut out, &a, &b));
    println!("\nmeasure(mix_with_a_bug): {stats}");
}
