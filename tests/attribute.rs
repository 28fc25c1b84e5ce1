//! `#[no_alloc]`: each form, RAII on every way out of the body, the reported
//! lines, methods and `async fn`s.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;
#[path = "common/executor.rs"]
mod executor;
use child::{aborted, expect_panic, is_child, rerun, stderr};
use executor::{Yield, block_on_with};

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use alloc_guard::{NoAllocGuard, Policy, is_alloc_forbidden, measure, no_alloc, permit_alloc};

// ---------------------------------------------------------------- helpers

thread_local! {
    /// Line of the last offending operation made by a function below on
    /// this thread (tests run in parallel).
    static ALLOC_LINE: Cell<u32> = const { Cell::new(0) };
}

/// Sets `ALLOC_LINE` to the line after the call (where the operation is).
macro_rules! next_line_allocates {
    () => {
        ALLOC_LINE.set(line!() + 1)
    };
}

fn alloc_line() -> u32 {
    ALLOC_LINE.get()
}

/// Whether `text` names `tests/attribute.rs` at `line`.
fn names_line(text: &str, line: u32) -> bool {
    text.contains(&format!("attribute.rs:{line}:"))
}

// ------------------------------------------------------- annotated functions

#[no_alloc]
fn sum(xs: &[u64]) -> u64 {
    assert!(is_alloc_forbidden());
    xs.iter().sum()
}

const LEAKY_LINE: u32 = line!() + 2;
#[no_alloc]
fn leaky(n: usize) -> usize {
    next_line_allocates!();
    black_box(vec![7u8; n]).len()
}

#[no_alloc(panic)]
fn leaky_explicit_panic() -> usize {
    next_line_allocates!();
    black_box(Box::new(5u64)).count_ones() as usize
}

const FREES_LINE: u32 = line!() + 2;
#[no_alloc(allow_frees)]
fn frees_ok(v: Vec<u8>, allocate: bool) -> usize {
    let n = v.len();
    drop(v); // a free: allowed by this form
    if allocate {
        next_line_allocates!();
        return black_box(String::from("no")).len();
    }
    n
}

#[no_alloc]
fn frees_forbidden(v: Vec<u8>) -> usize {
    let n = v.len();
    next_line_allocates!(); // the dealloc
    drop(v);
    n
}

/// Early return, `?` and the normal end, each with the guard live.
#[no_alloc]
fn parse_positive(s: &str) -> Result<Option<u32>, std::num::ParseIntError> {
    assert!(is_alloc_forbidden());
    let n: u32 = s.trim().parse()?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(n))
}

#[no_alloc]
fn panics_inside(msg: &'static str) {
    assert!(is_alloc_forbidden());
    std::panic::panic_any(msg);
}

struct Mixer {
    gain: f32,
    scratch: Vec<f32>,
}

impl Mixer {
    #[no_alloc]
    fn apply(&mut self, input: &[f32]) -> f32 {
        assert!(is_alloc_forbidden());
        for (s, x) in self.scratch.iter_mut().zip(input) {
            *s = x * self.gain;
        }
        self.scratch.iter().sum()
    }

    #[no_alloc(allow_frees)]
    fn into_gain(self) -> f32 {
        self.gain // `self.scratch` is freed here: allowed
    }

    #[no_alloc]
    async fn peak(&self) -> f32 {
        self.scratch.iter().fold(0.0, |m, &x| m.max(x))
    }

    #[no_alloc]
    async fn total(self: Box<Self>) -> f32 {
        let total = self.scratch.iter().sum();
        std::mem::forget(self); // keep the free out of the guarded poll
        total
    }
}

trait Scale {
    fn scale(&self, by: u32) -> u32;
}

impl Scale for u32 {
    #[no_alloc]
    fn scale(&self, by: u32) -> u32 {
        assert!(is_alloc_forbidden());
        self * by
    }
}

#[no_alloc]
fn generic_max<T: Ord + Copy>(items: impl IntoIterator<Item = T>) -> Option<T> {
    items.into_iter().max()
}

#[no_alloc]
unsafe fn read_first(p: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *p }
}

#[no_alloc]
async fn two_polls(xs: &[u32], allocate_after: bool) -> u32 {
    assert!(is_alloc_forbidden());
    let first = xs.iter().sum::<u32>();
    Yield(1).await;
    assert!(is_alloc_forbidden());
    if allocate_after {
        next_line_allocates!();
        return black_box(vec![first]).len() as u32;
    }
    first
}

/// Polls `fut` to completion on this thread, allocating between polls (as
/// an executor may), and returns its output and the number of polls.
fn run_allocating_between_polls<F: Future>(fut: F) -> (F::Output, u32) {
    block_on_with(fut, || {
        assert!(
            !is_alloc_forbidden(),
            "the thread is still armed between polls"
        );
        black_box(Box::new(1u8)); // the "executor" allocates between polls
    })
}

// ------------------------------------------------------------------ tests

#[test]
fn default_form_allows_stack_work() {
    let data = [1, 2, 3];
    let (total, stats) = measure(|| sum(black_box(&data)));
    assert_eq!(total, 6);
    assert!(stats.is_empty(), "{stats}");
    assert!(!is_alloc_forbidden());
}

#[test]
fn default_form_panics_naming_the_allocation_and_the_function() {
    let msg = expect_panic(|| leaky(3));
    assert!(msg.contains("violation"), "{msg}");
    assert!(
        names_line(&msg, alloc_line()),
        "offending line not named:\n{msg}"
    );
    assert!(
        msg.contains(&format!("guard made at tests/attribute.rs:{LEAKY_LINE}:")),
        "guard site is not the function:\n{msg}"
    );
    assert!(!is_alloc_forbidden());
}

#[test]
fn explicit_panic_form_panics() {
    let msg = expect_panic(leaky_explicit_panic);
    assert!(names_line(&msg, alloc_line()), "{msg}");
}

#[test]
fn allow_frees_form_lets_frees_through_but_not_allocations() {
    let v = black_box(vec![1u8, 2, 3]);
    assert_eq!(frees_ok(v, false), 3);

    let msg = expect_panic(|| frees_ok(black_box(vec![1]), true));
    assert!(msg.contains("alloc of 2 bytes"), "{msg}");
    assert!(names_line(&msg, alloc_line()), "{msg}");
    assert!(
        msg.contains(&format!("guard made at tests/attribute.rs:{FREES_LINE}:")),
        "{msg}"
    );
}

#[test]
fn default_form_forbids_frees() {
    let msg = expect_panic(|| frees_forbidden(black_box(vec![1, 2])));
    assert!(msg.contains("dealloc of 2 bytes"), "{msg}");
    assert!(names_line(&msg, alloc_line()), "{msg}");
}

#[test]
fn early_return_and_question_mark_end_the_guard() {
    assert_eq!(parse_positive("7"), Ok(Some(7)));
    assert!(!is_alloc_forbidden());
    assert_eq!(parse_positive("0"), Ok(None)); // early return
    assert!(!is_alloc_forbidden());
    assert!(parse_positive("x").is_err()); // `?`
    assert!(!is_alloc_forbidden());
    // The thread is free again: this allocation is not a violation.
    let (_, stats) = measure(|| black_box(vec![1u8; 4]));
    assert_eq!(stats.allocs, 1);
}

#[test]
fn the_enclosing_state_is_restored() {
    let outer = NoAllocGuard::new(Policy::Panic);
    permit_alloc(|| {
        assert!(!is_alloc_forbidden());
        assert_eq!(parse_positive("3"), Ok(Some(3)));
        assert!(!is_alloc_forbidden()); // back to the permit, not the outer guard
    });
    assert_eq!(sum(&[1]), 1);
    assert!(is_alloc_forbidden()); // back to the outer guard
    assert_eq!(outer.violations(), 0);
    drop(outer);
    assert!(!is_alloc_forbidden());
}

#[test]
fn unwinding_ends_the_guard() {
    let msg = expect_panic(|| panics_inside("boom"));
    assert_eq!(msg, "boom");
    assert!(!is_alloc_forbidden());
}

#[test]
fn methods_traits_generics_and_unsafe_fns() {
    let mut mixer = Mixer {
        gain: 2.0,
        scratch: vec![0.0; 3],
    };
    let (total, stats) = measure(|| mixer.apply(&[1.0, 2.0, 3.0]));
    assert_eq!(total, 12.0);
    assert!(stats.is_empty(), "{stats}");
    assert_eq!(mixer.into_gain(), 2.0);

    assert_eq!(3u32.scale(4), 12);
    assert_eq!(generic_max([3, 9, 4]), Some(9));
    let x = 11u32;
    // SAFETY: `&x` is a valid pointer to a u32.
    assert_eq!(unsafe { read_first(&x) }, 11);
    assert!(!is_alloc_forbidden());
}

#[test]
fn async_fn_guards_each_poll_and_not_the_executor() {
    let ((total, polls), _) =
        measure(|| run_allocating_between_polls(two_polls(&[1, 2, 3], false)));
    assert_eq!((total, polls), (6, 2));

    let msg = expect_panic(|| run_allocating_between_polls(two_polls(&[1], true)));
    assert!(msg.contains("violation"), "{msg}");
    assert!(names_line(&msg, alloc_line()), "{msg}");
    assert!(!is_alloc_forbidden());
}

#[test]
fn async_methods_with_self_receivers() {
    let mixer = Mixer {
        gain: 1.0,
        scratch: vec![1.0, 5.0, 2.0],
    };
    assert_eq!(run_allocating_between_polls(mixer.peak()), (5.0, 1));
    let boxed = Box::new(mixer);
    let (total, _) = run_allocating_between_polls(boxed.total());
    assert_eq!(total, 8.0);
}

#[test]
fn log_form_reports_and_goes_on() {
    #[no_alloc(log)]
    fn logs(n: usize) -> usize {
        next_line_allocates!();
        black_box(vec![0u8; n]).len()
    }
    #[no_alloc(log, allow_frees)]
    fn logs_allocs_only(v: Vec<u8>) -> usize {
        drop(v);
        next_line_allocates!();
        black_box(Box::new(1u8)).count_ones() as usize
    }

    if is_child() {
        assert_eq!(logs(5), 5); // no panic
        let first = alloc_line();
        assert_eq!(logs_allocs_only(black_box(vec![1, 2, 3])), 1);
        let second = alloc_line();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("LINES {first} {second}");
        return;
    }
    let out = rerun("log_form_reports_and_goes_on", &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "child failed:\n{err}");
    let (first, second) = err
        .lines()
        .find_map(|l| l.strip_prefix("LINES "))
        .and_then(|l| l.split_once(' '))
        .map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()))
        .unwrap_or_else(|| panic!("no LINES in:\n{err}"));
    assert!(err.contains("policy LogBacktrace"), "{err}");
    assert!(names_line(&err, first), "{err}");
    assert!(names_line(&err, second), "{err}");
    // `logs` allocates and frees (2 reports); `logs_allocs_only` frees
    // (allowed: no report) and allocates and frees a Box (1 report).
    assert_eq!(err.matches("dealloc of 5 bytes").count(), 1, "{err}");
    assert_eq!(err.matches("dealloc of 3 bytes").count(), 0, "{err}");
    assert_eq!(err.matches("alloc of 1 byte").count(), 1, "{err}");
}

#[test]
fn abort_form_aborts_with_a_report() {
    const ABORTS_LINE: u32 = line!() + 2;
    #[no_alloc(abort)]
    fn aborts() -> usize {
        next_line_allocates!();
        black_box(vec![1u16, 2]).len()
    }

    if is_child() {
        aborts();
        eprintln!("NOT ABORTED");
        return;
    }
    let out = rerun("abort_form_aborts_with_a_report", &[]);
    let err = stderr(&out);
    assert!(aborted(&out), "did not abort: {}\n{err}", out.status);
    assert!(!err.contains("NOT ABORTED"), "{err}");
    assert!(err.contains("alloc of 4 bytes (align 2)"), "{err}");
    assert!(err.contains("aborting (Policy::Abort)"), "{err}");
    // The allocation: two lines below the function's name.
    assert!(names_line(&err, ABORTS_LINE + 2), "{err}");
    assert!(
        err.contains(&format!("tests/attribute.rs:{ABORTS_LINE}:")),
        "guard site is not the function:\n{err}"
    );
}

// ------------------------------------------------- arguments passed by value
//
// One rule for `fn` and `async fn`: by-value arguments are dropped inside
// the guard (in the last poll, for an `async fn`), whether the body
// mentions them or not; `allow_frees` lets those frees through.

/// A `Box<u64>` made outside any guard: freeing it is `dealloc of 8 bytes`.
fn boxed(n: u64) -> Box<u64> {
    black_box(Box::new(n))
}

/// Panics unless `f` panics with a report of a free of a `Box<u64>`.
#[track_caller]
fn expect_dealloc_violation<R>(f: impl FnOnce() -> R) {
    let msg = expect_panic(f);
    assert!(msg.contains("violation"), "{msg}");
    assert!(msg.contains("dealloc of 8 bytes"), "{msg}");
    assert!(!is_alloc_forbidden());
}

/// Polls `fut` once on this thread.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[no_alloc]
fn takes_box(b: Box<u64>) -> u64 {
    *b + 1
}

#[no_alloc(allow_frees)]
fn takes_box_allowing_frees(b: Box<u64>) -> u64 {
    *b + 1
}

#[no_alloc]
fn ignores_box(_unused: Box<u64>, n: u32) -> u32 {
    n
}

#[no_alloc(allow_frees)]
fn ignores_box_allowing_frees(_unused: Box<u64>, n: u32) -> u32 {
    n
}

#[no_alloc]
fn wildcard(_: Box<u64>, n: u32) -> u32 {
    n
}

#[no_alloc(allow_frees)]
fn wildcard_allowing_frees(_: Box<u64>, n: u32) -> u32 {
    n
}

/// The unbound part of a destructured argument is dropped inside too.
#[no_alloc]
fn destructured((n, _): (u32, Box<u64>)) -> u32 {
    n
}

#[no_alloc]
fn mut_argument(mut b: Box<u64>) -> u64 {
    *b += 1;
    *b
}

struct Owner {
    data: Box<u64>,
    n: u32,
}

impl Owner {
    fn new(n: u32) -> Owner {
        Owner {
            data: boxed(u64::from(n)),
            n,
        }
    }

    /// Mentions only a `Copy` field: a closure or async block would
    /// capture just `self.n`.
    #[no_alloc]
    fn n(self) -> u32 {
        self.n
    }

    #[no_alloc(allow_frees)]
    fn n_allowing_frees(self) -> u32 {
        self.n
    }

    #[no_alloc]
    #[allow(clippy::unused_self)]
    fn ignores_self(self) -> u32 {
        3
    }

    #[no_alloc]
    fn mut_self(mut self, by: u32) -> u32 {
        self.n += by;
        self.n
    }

    #[no_alloc]
    fn boxed_self(self: Box<Self>) -> u32 {
        self.n
    }

    /// Moves a field out: the rest of `self` is still dropped inside.
    #[no_alloc(allow_frees)]
    fn into_data(self) -> Box<u64> {
        self.data
    }

    #[no_alloc]
    async fn async_n(self) -> u32 {
        self.n
    }

    #[no_alloc(allow_frees)]
    async fn async_n_allowing_frees(self) -> u32 {
        self.n
    }

    #[no_alloc]
    #[allow(clippy::unused_self)]
    async fn async_ignores_self(self) -> u32 {
        4
    }
}

#[no_alloc]
async fn async_takes_box(b: Box<u64>) -> u64 {
    *b + 1
}

#[no_alloc]
async fn async_ignores_box(_unused: Box<u64>, n: u32) -> u32 {
    n
}

#[no_alloc(allow_frees)]
async fn async_ignores_box_allowing_frees(_unused: Box<u64>, n: u32) -> u32 {
    n
}

#[no_alloc]
async fn async_wildcard(_: Box<u64>) {}

#[no_alloc(allow_frees)]
async fn async_wildcard_allowing_frees(_: Box<u64>) {}

#[no_alloc]
async fn async_destructured((n, _): (u32, Box<u64>)) -> u32 {
    n
}

/// The argument is dropped in the poll that completes, not in the first.
#[no_alloc]
async fn async_ignores_box_across_await(_unused: Box<u64>) -> u32 {
    Yield(1).await;
    5
}

#[test]
fn fn_frees_a_by_value_argument_inside_the_guard() {
    expect_dealloc_violation(|| takes_box(boxed(1)));
    assert_eq!(takes_box_allowing_frees(boxed(1)), 2);
    expect_dealloc_violation(|| mut_argument(boxed(1)));
}

#[test]
fn fn_frees_an_argument_the_body_does_not_mention_inside_the_guard() {
    expect_dealloc_violation(|| ignores_box(boxed(1), 2));
    assert_eq!(ignores_box_allowing_frees(boxed(1), 2), 2);
}

#[test]
fn fn_frees_a_wildcard_argument_inside_the_guard() {
    expect_dealloc_violation(|| wildcard(boxed(1), 2));
    assert_eq!(wildcard_allowing_frees(boxed(1), 2), 2);
    expect_dealloc_violation(|| destructured((2, boxed(1))));
}

#[test]
fn method_frees_self_by_value_inside_the_guard() {
    expect_dealloc_violation(|| Owner::new(1).n());
    assert_eq!(Owner::new(1).n_allowing_frees(), 1);
    expect_dealloc_violation(|| Owner::new(1).ignores_self());
    expect_dealloc_violation(|| Owner::new(1).mut_self(2));
    let boxed_owner = black_box(Box::new(Owner::new(1)));
    let msg = expect_panic(|| boxed_owner.boxed_self());
    assert!(msg.contains("dealloc of"), "{msg}");
    assert_eq!(*Owner::new(7).into_data(), 7);
    assert!(!is_alloc_forbidden());
}

#[test]
fn async_fn_frees_by_value_arguments_inside_the_last_poll() {
    expect_dealloc_violation(|| poll_once(async_takes_box(boxed(1))));
    expect_dealloc_violation(|| poll_once(async_ignores_box(boxed(1), 2)));
    assert_eq!(
        poll_once(async_ignores_box_allowing_frees(boxed(1), 2)),
        Poll::Ready(2)
    );
    expect_dealloc_violation(|| poll_once(async_wildcard(boxed(1))));
    assert_eq!(
        poll_once(async_wildcard_allowing_frees(boxed(1))),
        Poll::Ready(())
    );
    expect_dealloc_violation(|| poll_once(async_destructured((2, boxed(1)))));

    let mut fut = pin!(async_ignores_box_across_await(boxed(1)));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending); // not freed yet
    expect_dealloc_violation(|| fut.as_mut().poll(&mut cx));
}

#[test]
fn async_method_frees_self_by_value_inside_the_last_poll() {
    expect_dealloc_violation(|| poll_once(Owner::new(1).async_n()));
    assert_eq!(
        poll_once(Owner::new(1).async_n_allowing_frees()),
        Poll::Ready(1)
    );
    expect_dealloc_violation(|| poll_once(Owner::new(1).async_ignores_self()));
}

thread_local! {
    /// (id, whether a guard forbade allocating) of each `Probe` dropped on
    /// this thread, without allocating.
    static DROPS: Cell<([(u8, bool); 8], usize)> = const { Cell::new(([(0, false); 8], 0)) };
}

/// Records its drop in `DROPS`.
struct Probe(u8);

impl Drop for Probe {
    fn drop(&mut self) {
        let (mut log, n) = DROPS.get();
        log[n] = (self.0, is_alloc_forbidden());
        DROPS.set((log, n + 1));
    }
}

impl Probe {
    #[no_alloc]
    fn consume(self, _other: Probe, _: Probe) {}

    #[no_alloc]
    async fn async_consume(self, _other: Probe, _: Probe) {}
}

/// The probes dropped since the last call, in drop order.
fn drops() -> Vec<(u8, bool)> {
    let (log, n) = DROPS.replace(([(0, false); 8], 0));
    log[..n].to_vec()
}

#[no_alloc]
fn drop_order(_a: Probe, (_b, _): (Probe, Probe), _: Probe, _e: Probe) {}

#[no_alloc]
async fn async_drop_order(_a: Probe, (_b, _): (Probe, Probe), _: Probe, _e: Probe) {}

#[test]
fn arguments_drop_inside_the_guard_in_the_order_of_a_plain_fn() {
    let args = || (Probe(0), (Probe(1), Probe(2)), Probe(3), Probe(4));
    // A plain fn drops its arguments last to first, and a destructured
    // one's bindings before its unbound rest: 4 3 1 2 0.
    let expected = [4, 3, 1, 2, 0].map(|id| (id, true));
    drops();
    let (a, b, d, e) = args();
    drop_order(a, b, d, e);
    assert_eq!(drops(), expected);
    let (a, b, d, e) = args();
    assert_eq!(poll_once(async_drop_order(a, b, d, e)), Poll::Ready(()));
    assert_eq!(drops(), expected);

    // `self` is the first argument: dropped last.
    let expected = [2, 1, 0].map(|id| (id, true));
    Probe(0).consume(Probe(1), Probe(2));
    assert_eq!(drops(), expected);
    let fut = Probe(0).async_consume(Probe(1), Probe(2));
    assert_eq!(poll_once(fut), Poll::Ready(()));
    assert_eq!(drops(), expected);
}

#[test]
fn reference_arguments_are_left_alone() {
    #[no_alloc]
    fn first_mut<'a>(_owned: Probe, xs: &'a mut [u8], _: &Probe) -> &'a mut u8 {
        &mut xs[0]
    }
    let mut xs = [1, 2];
    let kept = Probe(9);
    drops();
    *first_mut(Probe(8), &mut xs, &kept) = 5;
    assert_eq!(xs, [5, 2]);
    assert_eq!(drops(), [(8, true)]); // not `kept`
}

// Forms that must keep compiling (and work) with the moves: generics,
// `impl Trait`, lifetimes, `where`, `unsafe fn`, `?`, early return, trait
// default bodies, a borrow returned from a method taking `self` by value.

trait Consume: Sized {
    fn n(&self) -> u32;

    #[no_alloc(allow_frees)]
    fn consume_default(self, extra: Box<u64>) -> u32 {
        self.n() + *extra as u32
    }

    #[no_alloc]
    fn peek_default(&self, by: u32) -> u32 {
        self.n() * by
    }
}

impl Consume for Owner {
    fn n(&self) -> u32 {
        self.n
    }
}

impl Owner {
    #[no_alloc(allow_frees)]
    fn first_mut<'a>(self, xs: &'a mut [u32]) -> &'a mut u32 {
        &mut xs[self.n as usize]
    }

    #[no_alloc(allow_frees)]
    fn parse_plus(self, s: &str) -> Result<u32, std::num::ParseIntError> {
        if s.is_empty() {
            return Ok(self.n);
        }
        Ok(s.parse::<u32>()? + self.n)
    }

    #[no_alloc(allow_frees)]
    fn counting(self, to: u32) -> impl Iterator<Item = u32> {
        self.n..to
    }

    /// # Safety
    /// `p` is valid for reads.
    #[no_alloc(allow_frees)]
    unsafe fn read_plus(self, p: *const u32) -> u32 {
        // SAFETY: the caller passes a valid pointer.
        unsafe { *p + self.n }
    }
}

#[no_alloc(allow_frees)]
fn generic_pick<'a, T, U: Into<u64>>(
    keep: &'a T,
    owned: Vec<U>,
    extra: impl IntoIterator<Item = U>,
    mut count: usize,
) -> (&'a T, usize)
where
    T: ?Sized,
{
    count += owned.len();
    for _ in extra {
        count += 1;
    }
    (keep, count)
}

// One-line bodies (as rustfmt leaves them when told to) get no
// `unused_braces` from the expansion.
#[rustfmt::skip]
#[deny(unused_braces)]
#[no_alloc]
fn one_line(x: u32) -> u32 { x + 1 }

#[rustfmt::skip]
#[deny(unused_braces)]
#[no_alloc]
async fn one_line_async(x: u32) -> u32 { x + 1 }

#[test]
fn generics_lifetimes_traits_and_unsafe_fns_with_moved_arguments() {
    assert_eq!(Owner::new(2).consume_default(boxed(3)), 5);
    assert_eq!(Owner::new(2).peek_default(3), 6);
    let mut xs = [0, 1, 2];
    *Owner::new(1).first_mut(&mut xs) = 9;
    assert_eq!(xs, [0, 9, 2]);
    assert_eq!(Owner::new(1).parse_plus(""), Ok(1));
    assert_eq!(Owner::new(1).parse_plus("4"), Ok(5));
    assert!(Owner::new(1).parse_plus("x").is_err());
    assert_eq!(Owner::new(1).counting(4).sum::<u32>(), 6);
    let x = 10;
    // SAFETY: `&x` is a valid pointer to a u32.
    assert_eq!(unsafe { Owner::new(1).read_plus(&x) }, 11);
    let v = black_box(vec![1u8, 2]);
    assert_eq!(generic_pick("s", v, [3u8], 1), ("s", 4));
    assert_eq!(one_line(1), 2);
    assert_eq!(poll_once(one_line_async(1)), Poll::Ready(2));
    assert!(!is_alloc_forbidden());
}

// ------------------------------------------------------------ crate = path

use alloc_guard as ag;

/// A re-export of the crate, as a facade crate would have.
mod renamed {
    pub use alloc_guard::*;
}

const ALIASED_LINE: u32 = line!() + 2;
#[no_alloc(crate = ag)]
fn aliased_leaky() -> usize {
    next_line_allocates!();
    black_box(Box::new(1u8)).count_ones() as usize
}

#[no_alloc(crate = ag)]
fn aliased_clean(xs: &[u32]) -> u32 {
    assert!(is_alloc_forbidden());
    xs.iter().sum()
}

#[no_alloc(allow_frees, crate = crate::renamed, panic)]
fn reexported(b: Box<u64>, allocate: bool) -> u64 {
    if allocate {
        next_line_allocates!();
        return black_box(Box::new(*b)).count_ones().into();
    }
    *b
}

#[no_alloc(crate = ::alloc_guard)]
fn absolute(b: Box<u64>) -> u64 {
    *b
}

#[no_alloc(crate = ag)]
async fn aliased_async(xs: &[u32], allocate: bool) -> u32 {
    if allocate {
        next_line_allocates!();
        return black_box(vec![1u32]).len() as u32;
    }
    xs.iter().sum()
}

/// How a library's macro names alloc_guard for its users: `$crate::path`.
macro_rules! guarded_fn {
    ($name:ident) => {
        #[::alloc_guard::no_alloc(crate = $crate::ag)]
        fn $name(allocate: bool) -> usize {
            if allocate {
                return black_box(vec![1u8]).len();
            }
            0
        }
    };
}
guarded_fn!(via_dollar_crate);

#[test]
fn crate_path_guards_like_the_default() {
    let msg = expect_panic(aliased_leaky);
    assert!(msg.contains("alloc of 1 byte"), "{msg}");
    assert!(names_line(&msg, alloc_line()), "{msg}");
    assert!(
        msg.contains(&format!("guard made at tests/attribute.rs:{ALIASED_LINE}:")),
        "guard site is not the function's name:\n{msg}"
    );
    let (total, stats) = measure(|| aliased_clean(&[1, 2]));
    assert_eq!(total, 3);
    assert!(stats.is_empty(), "{stats}");

    assert_eq!(reexported(boxed(4), false), 4); // frees allowed
    let msg = expect_panic(|| reexported(boxed(4), true));
    assert!(names_line(&msg, alloc_line()), "{msg}");
    expect_dealloc_violation(|| absolute(boxed(1)));

    assert_eq!(poll_once(aliased_async(&[1, 2], false)), Poll::Ready(3));
    let msg = expect_panic(|| poll_once(aliased_async(&[], true)));
    assert!(names_line(&msg, alloc_line()), "{msg}");

    assert_eq!(via_dollar_crate(false), 0);
    let msg = expect_panic(|| via_dollar_crate(true));
    assert!(msg.contains("alloc of 1 byte"), "{msg}");
    assert!(!is_alloc_forbidden());
}

/// Stand-ins for the three names the generated code uses, each counting
/// its use and forwarding to alloc_guard: code naming `::alloc_guard`
/// anywhere instead of the given path would not compile (`Policy` is
/// another type) or would not count.
#[allow(dead_code, clippy::new_ret_no_self)] // stand-ins, with the real API's names
mod fake {
    use std::cell::Cell;
    use std::future::Future;
    use std::marker::PhantomData;

    thread_local! {
        pub static USES: Cell<u32> = const { Cell::new(0) };
    }

    pub enum Policy {
        Panic,
        Abort,
        LogBacktrace,
    }

    impl Policy {
        fn real(self) -> alloc_guard::Policy {
            USES.set(USES.get() + 1);
            match self {
                Policy::Panic => alloc_guard::Policy::Panic,
                Policy::Abort => alloc_guard::Policy::Abort,
                Policy::LogBacktrace => alloc_guard::Policy::LogBacktrace,
            }
        }
    }

    pub struct NoAllocGuard;

    impl NoAllocGuard {
        #[track_caller]
        pub fn new(policy: Policy) -> alloc_guard::NoAllocGuard {
            alloc_guard::NoAllocGuard::new(policy.real())
        }
        #[track_caller]
        pub fn allowing_frees(policy: Policy) -> alloc_guard::NoAllocGuard {
            alloc_guard::NoAllocGuard::allowing_frees(policy.real())
        }
    }

    pub struct NoAllocFuture<F>(PhantomData<F>);

    impl<F: Future> NoAllocFuture<F> {
        #[track_caller]
        pub fn new(future: F, policy: Policy) -> alloc_guard::NoAllocFuture<F> {
            alloc_guard::NoAllocFuture::new(future, policy.real())
        }
        #[track_caller]
        pub fn allowing_frees(future: F, policy: Policy) -> alloc_guard::NoAllocFuture<F> {
            alloc_guard::NoAllocFuture::allowing_frees(future, policy.real())
        }
    }
}

#[no_alloc(crate = fake)]
fn through_fake(b: Box<u64>) -> u64 {
    *b
}

#[no_alloc(allow_frees, crate = fake)]
fn through_fake_allowing_frees(b: Box<u64>) -> u64 {
    *b
}

#[no_alloc(crate = crate::fake, log)]
async fn through_fake_async(n: u32) -> u32 {
    n
}

#[no_alloc(crate = self::fake, allow_frees)]
async fn through_fake_async_allowing_frees(b: Box<u64>) -> u64 {
    *b
}

#[test]
fn crate_path_is_the_only_path_the_expansion_names() {
    fake::USES.set(0);
    expect_dealloc_violation(|| through_fake(boxed(1)));
    assert_eq!(through_fake_allowing_frees(boxed(2)), 2);
    assert_eq!(poll_once(through_fake_async(3)), Poll::Ready(3));
    assert_eq!(
        poll_once(through_fake_async_allowing_frees(boxed(4))),
        Poll::Ready(4)
    );
    assert_eq!(fake::USES.get(), 4);
}
