//! Re-running this test binary as a child process, and catching panics
//! without printing them.

use std::cell::Cell;
use std::fs::File;
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[path = "../it/child.rs"]
#[allow(dead_code)]
mod shared;

const MARKER: &str = "ALLOC_GUARD_TEST_CHILD";

/// Whether this process is a child started by [`rerun`].
pub fn is_child() -> bool {
    std::env::var_os(MARKER).is_some()
}

/// How long a child may run before it is killed as hung.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs test `name` (path inside this binary, e.g. `misuse::forget`) alone
/// in a child process and returns its output; a child still running after
/// [`CHILD_TIMEOUT`] is killed (its status then says so).
pub fn rerun(name: &str) -> Output {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "alloc_guard_rel_{}_{}",
        std::process::id(),
        N.fetch_add(1, Relaxed)
    ));
    let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MARKER, "1")
        .env("RUST_BACKTRACE", "0")
        .stdout(File::create(&out_path).expect("temp file"))
        .stderr(File::create(&err_path).expect("temp file"))
        .spawn()
        .expect("failed to run the test binary as a child");
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            eprintln!("child {name} HUNG: killed after {CHILD_TIMEOUT:?}");
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    output
}

/// The test path of a function in module `module_path!()` of this binary.
pub fn test_name(module: &str, function: &str) -> String {
    match module.split_once("::") {
        Some((_crate, inner)) => format!("{inner}::{function}"),
        None => function.to_owned(),
    }
}

/// Re-runs the calling test (by module and function name) as a child and
/// returns its stderr, asserting the child passed.
#[track_caller]
pub fn rerun_ok(module: &str, function: &str) -> String {
    let out = rerun(&test_name(module, function));
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "child {function} failed ({:?}):\n{err}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child ran no test: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

/// The child's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent while [`quietly`] runs on
/// the panicking thread and defers to the previous hook otherwise. With
/// `RUST_BACKTRACE=1`, the default hook would resolve a backtrace for every
/// one of the thousands of expected panics.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic without printing it; returns whether it
/// panicked and drops the payload inside [`alloc_guard::permit_alloc`], so
/// an enclosing guard does not see its free.
pub fn quietly(f: impl FnOnce()) -> bool {
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    let panicked = result.is_err();
    alloc_guard::permit_alloc(|| drop(result));
    panicked
}

/// Runs `f`, expecting it to panic, and returns the panic message.
#[track_caller]
pub fn expect_panic(f: impl FnOnce()) -> String {
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    let Err(payload) = result else {
        panic!("expected a panic, but the closure returned normally")
    };
    // The payload is dropped inside the permit too.
    alloc_guard::permit_alloc(move || shared::panic_message(&*payload))
}
