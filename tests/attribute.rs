//! `#[no_alloc]`: each form, RAII on every way out of the body, the reported
//! lines, methods and `async fn`s.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "it/child.rs"]
#[allow(dead_code)]
mod child;
use child::{expect_panic, is_child, rerun, stderr};

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

/// Returns `Pending` once (waking itself), then `Ready`.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[no_alloc]
async fn two_polls(xs: &[u32], allocate_after: bool) -> u32 {
    assert!(is_alloc_forbidden());
    let first = xs.iter().sum::<u32>();
    YieldOnce(false).await;
    assert!(is_alloc_forbidden());
    if allocate_after {
        next_line_allocates!();
        return black_box(vec![first]).len() as u32;
    }
    first
}

/// Polls `fut` to completion on this thread, allocating between polls (as
/// an executor may), and returns its output and the number of polls.
fn run_allocating_between_polls<F: Future>(fut: F) -> (F::Output, usize) {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return (v, polls);
        }
        assert!(
            !is_alloc_forbidden(),
            "the thread is still armed between polls"
        );
        black_box(Box::new(polls)); // the "executor" allocates between polls
    }
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
    assert_eq!(err.matches("alloc of 1 bytes").count(), 1, "{err}");
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
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(6), "not SIGABRT:\n{err}");
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
