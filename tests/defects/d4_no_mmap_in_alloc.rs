//! Defect 4 (`thread_state::map_records`): a thread's first `Policy::Panic`
//! violation maps memory for its records with `mmap`, inside the allocator.
//! Where `mmap` is not allowed at that point (a seccomp sandbox entered
//! after the guard was made, a real-time thread that must not fault), the
//! record is lost and the guard's panic cannot name the offending call.
//! The fix maps per-thread memory when a guard is made, outside the
//! allocator; the second test checks that this memory is still returned
//! when threads exit.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

use crate::child;

/// `AUDIT_ARCH_X86_64` (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Makes `mmap` fail with `EPERM` on the calling thread from now on (a
/// seccomp filter without TSYNC applies to the calling thread only).
fn forbid_mmap_on_this_thread() {
    const LD_ABS_W: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        // seccomp_data.arch (offset 4): not x86_64 → allow.
        op(LD_ABS_W, 0, 0, 4),
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        // seccomp_data.nr (offset 0): mmap → EPERM, else allow.
        op(LD_ABS_W, 0, 0, 0),
        op(JEQ_K, 0, 1, libc::SYS_mmap as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: plain prctl calls; `prog` points at `filter`, which outlives
    // the call (the kernel copies the program).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "PR_SET_SECCOMP"
        );
    }
    // SAFETY: an anonymous mapping request with no preconditions; checked.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_eq!(p, libc::MAP_FAILED, "setup: mmap still works");
}

/// On a fresh thread: warms its malloc arena, makes a panicking guard,
/// then (if `sandbox`) forbids `mmap`, violates once and returns the
/// guard's panic message and the line of the violation.
fn violate_on_a_fresh_thread(sandbox: bool) -> (String, u32) {
    std::thread::spawn(move || {
        // The thread's own malloc arena, grown well beyond what the report
        // needs, so glibc's malloc needs no mmap later.
        let warm: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 256]).collect();
        drop(black_box(warm));
        let mut line = 0;
        let msg = child::expect_panic(|| {
            let guard = NoAllocGuard::new(Policy::Panic);
            if sandbox {
                forbid_mmap_on_this_thread();
            }
            let (l, b) = (line!(), black_box(Box::new(1u64)));
            line = l;
            std::mem::forget(b); // exactly one violation
            drop(guard);
        });
        (msg, line)
    })
    .join()
    .unwrap()
}

#[test]
fn a_panic_violation_under_a_sandbox_without_mmap_names_its_call_site() {
    let name = "a_panic_violation_under_a_sandbox_without_mmap_names_its_call_site";
    if under_valgrind() {
        // valgrind maps memory for the program itself: a thread forbidden
        // to mmap crashes valgrind, not the code under test.
        eprintln!("D4 seccomp sandbox not run under valgrind");
        return;
    }
    if !child::is_child() {
        let out = child::rerun(&child::test_name(module_path!(), name), &[]);
        out.assert_finished();
        assert!(out.passed(), "{out}");
        return;
    }
    child::quietly(|| {});
    // Without the sandbox first: the message is right, and symbol
    // resolution has loaded (and cached) the debug info it needs.
    let (msg, line) = violate_on_a_fresh_thread(false);
    let at = format!("{}:{line}:", file!());
    assert!(
        msg.contains(&at),
        "setup: no call site without the sandbox: {msg}"
    );
    let (msg, line) = violate_on_a_fresh_thread(true);
    let at = format!("{}:{line}:", file!());
    assert!(
        msg.contains("1 violation; first: alloc of 8 bytes (align 8)") && msg.contains(&at),
        "with mmap forbidden after the guard was made, the panic should still name \
         the allocation and its call site ({at}): {msg}"
    );
}

/// The size in bytes of every mapping of this process, and their number.
fn mappings() -> (u64, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let mut bytes = 0;
    let mut lines = 0;
    for line in maps.lines() {
        let range = line.split(' ').next().unwrap_or("");
        if let Some((lo, hi)) = range.split_once('-') {
            let lo = u64::from_str_radix(lo, 16).unwrap_or(0);
            let hi = u64::from_str_radix(hi, 16).unwrap_or(0);
            bytes += hi.saturating_sub(lo);
        }
        lines += 1;
    }
    (bytes, lines)
}

#[test]
fn per_thread_record_memory_is_returned_when_threads_exit() {
    let name = "per_thread_record_memory_is_returned_when_threads_exit";
    if under_valgrind() {
        // valgrind maps memory of its own for every thread: the maps file
        // says nothing about ours there (memcheck still checks the rest).
        eprintln!("D4 mapping count not checked under valgrind");
        return;
    }
    if !child::is_child() {
        let out = child::rerun(&child::test_name(module_path!(), name), &[]);
        out.assert_finished();
        assert!(out.passed(), "{out}");
        assert!(child::stderr(&out).contains("D4 maps"), "{out}");
        return;
    }
    child::quietly(|| {});
    let short_thread = || {
        std::thread::spawn(|| {
            let msg = child::expect_panic(|| {
                let _guard = NoAllocGuard::new(Policy::Panic);
                drop(black_box(Box::new(1u8)));
            });
            assert!(msg.contains("2 violations"), "{msg}");
        })
        .join()
        .unwrap();
    };
    // Warm up: thread stack cache, malloc arenas, debug info.
    for _ in 0..10 {
        short_thread();
    }
    let (bytes_before, lines_before) = mappings();
    for _ in 0..200 {
        short_thread();
    }
    let (bytes_after, lines_after) = mappings();
    let grown = bytes_after.saturating_sub(bytes_before);
    eprintln!(
        "D4 maps: {lines_before} -> {lines_after} lines, {bytes_before} -> {bytes_after} bytes"
    );
    assert!(
        lines_after < lines_before + 20 && grown < 100 * 4096,
        "200 threads that exited left mappings behind: {lines_before} -> {lines_after} \
         lines, {grown} bytes more"
    );
}

/// Whether the binary runs under valgrind (set by `.ci/valgrind.sh`).
fn under_valgrind() -> bool {
    std::env::var_os("ALLOC_GUARD_UNDER_VALGRIND").is_some()
}
