//! Re-running this test binary as a child process, for what must not happen
//! in the test process itself (abort) or must be read from stderr.

use std::process::{Command, Output};

const MARKER: &str = "ALLOC_GUARD_TEST_CHILD";

/// Whether this process is a child started by [`rerun`].
pub fn is_child() -> bool {
    std::env::var_os(MARKER).is_some()
}

/// Runs test `name` (path inside this binary, e.g. `policies::abort`) alone
/// in a child process, with `env` set, and returns its output.
pub fn rerun(name: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(MARKER, "1")
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .expect("failed to run the test binary as a child")
}

/// The test path of a function in module `module_path!()` of this binary.
pub fn test_name(module: &str, function: &str) -> String {
    match module.split_once("::") {
        Some((_crate, inner)) => format!("{inner}::{function}"),
        None => function.to_owned(),
    }
}

/// The child's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the child was killed by SIGABRT.
pub fn aborted(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(libc_sigabrt())
}

fn libc_sigabrt() -> i32 {
    6
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::from("<non-string panic payload>")
    }
}

/// Runs `f`, expecting it to panic, and returns the panic message.
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the closure returned normally"),
        Err(payload) => panic_message(&*payload),
    }
}
