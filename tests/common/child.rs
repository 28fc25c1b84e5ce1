//! Re-running this test binary as a child process, for what must not happen
//! in the test process itself (abort, hang, process-global state) or must
//! be read from stderr; and catching panics without printing them.
//!
//! Include it with `#[path = "../common/child.rs"] mod child;` (from a test
//! directory's `main.rs`) or `#[path = "common/child.rs"] mod child;` (from a
//! top-level test file).
//!
//! Every child runs under a timeout (60 s by default, or
//! `ALLOC_GUARD_CHILD_TIMEOUT_SECS`): a child still running then is killed
//! with its whole process group (so processes it forked go too; on Windows,
//! which has no fork, the child alone), and its output says it timed out.

// Each test binary uses a different part of this helper.
#![allow(dead_code)]

use std::cell::Cell;
use std::fmt;
use std::io::Read;
#[cfg(unix)]
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Set in a child's environment: the test runs its scenario instead of
/// re-running itself.
pub const MARKER: &str = "ALLOC_GUARD_TEST_CHILD";

/// How long a child may run before it is killed as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a running child is polled.
const POLL: Duration = Duration::from_millis(10);

/// Whether this process is a child started by [`rerun`].
pub fn is_child() -> bool {
    std::env::var_os(MARKER).is_some()
}

/// What a child did: like [`std::process::Output`], plus whether it was
/// killed for running past its timeout.
pub struct ChildOutput {
    /// The test path it ran.
    pub name: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// Everything the child wrote to stderr (up to its end or its kill).
    pub stderr: Vec<u8>,
    /// The child ran past `timeout` and was killed.
    pub timed_out: bool,
    pub timeout: Duration,
}

impl ChildOutput {
    /// Panics, with the child's stderr so far, if it was killed as hung.
    #[track_caller]
    pub fn assert_finished(&self) {
        assert!(!self.timed_out, "{self}");
    }

    /// Whether the child ran exactly one test and it passed.
    pub fn passed(&self) -> bool {
        !self.timed_out
            && self.status.success()
            && String::from_utf8_lossy(&self.stdout).contains("1 passed")
    }
}

/// The timeout line first (if any), the status, then stdout and stderr.
impl fmt::Display for ChildOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out {
            writeln!(
                f,
                "child {} timed out after {}s: deadlock or livelock? (killed; stderr so far below)",
                self.name,
                self.timeout.as_secs()
            )?;
        }
        writeln!(f, "child {} ended with {}", self.name, self.status)?;
        writeln!(f, "--- stdout ---\n{}", Shortened(&self.stdout))?;
        write!(f, "--- stderr ---\n{}", Shortened(&self.stderr))
    }
}

/// Output as text, its middle left out if it is long (a runaway child can
/// write megabytes).
struct Shortened<'a>(&'a [u8]);

impl fmt::Display for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: usize = 6 << 10;
        const TAIL: usize = 10 << 10;
        let bytes = self.0;
        if bytes.len() <= HEAD + TAIL {
            return f.write_str(&String::from_utf8_lossy(bytes));
        }
        let tail = &bytes[bytes.len() - TAIL..];
        write!(
            f,
            "{}\n[… {} bytes left out …]\n{}",
            String::from_utf8_lossy(&bytes[..HEAD]),
            bytes.len() - HEAD - TAIL,
            String::from_utf8_lossy(tail)
        )
    }
}

impl fmt::Debug for ChildOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The default timeout, or `ALLOC_GUARD_CHILD_TIMEOUT_SECS` (for slow runs,
/// e.g. under valgrind).
pub fn default_timeout() -> Duration {
    std::env::var("ALLOC_GUARD_CHILD_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}

/// Runs test `name` (its path inside this binary, see [`test_name`]) alone
/// in a child process, with `env` set, under the default timeout.
pub fn rerun(name: &str, env: &[(&str, &str)]) -> ChildOutput {
    rerun_with_timeout(name, env, default_timeout())
}

/// Runs test `name` alone in a child process with `env` set; kills it (and
/// every process in its group) if it runs longer than `timeout`.
pub fn rerun_with_timeout(name: &str, env: &[(&str, &str)], timeout: Duration) -> ChildOutput {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([
        name,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(MARKER, "1")
    .env("RUST_BACKTRACE", "0")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Its own process group, so a timeout also ends what it forked.
    #[cfg(unix)]
    cmd.process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the hook runs in the forked child before exec and only makes
    // one async-signal-safe system call.
    unsafe {
        // If this test process dies (Ctrl-C, a timeout of its own), a hung
        // child dies with it instead of spinning on.
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .expect("failed to run the test binary as a child");
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = pipe {
            let (buf, done) = (buf.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = done.send(());
            });
        } else {
            let _ = done_tx.send(());
        }
        buf
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    drop(done_tx);

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            #[cfg(unix)]
            {
                let pgid = child.id() as libc::pid_t;
                // SAFETY: plain system call. The child is not reaped yet,
                // so its pid (= its group's id) cannot have been reused.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(POLL);
    };
    // Let the readers reach the end of the pipes, but do not wait forever:
    // a process the child forked may still hold them open.
    let drained = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        let left = drained.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |buf: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *buf.lock().unwrap());
    ChildOutput {
        name: name.to_owned(),
        status,
        stdout: take(&stdout),
        stderr: take(&stderr),
        timed_out,
        timeout,
    }
}

/// The test path of a function in module `module_path!()` of this binary.
pub fn test_name(module: &str, function: &str) -> String {
    match module.split_once("::") {
        Some((_crate, inner)) => format!("{inner}::{function}"),
        None => function.to_owned(),
    }
}

/// Re-runs the calling test (by module and function name) as a child,
/// asserts it finished in time and passed, and returns its stderr.
#[track_caller]
pub fn rerun_ok(module: &str, function: &str) -> String {
    let out = rerun(&test_name(module, function), &[]);
    out.assert_finished();
    assert!(out.passed(), "the child did not pass:\n{out}");
    stderr(&out)
}

/// What [`stderr`] and [`aborted`] read: a [`ChildOutput`], or the
/// `std::process::Output` of a child run some other way.
pub trait Ended {
    fn status(&self) -> ExitStatus;
    fn stderr_bytes(&self) -> &[u8];
}

impl Ended for ChildOutput {
    fn status(&self) -> ExitStatus {
        self.status
    }
    fn stderr_bytes(&self) -> &[u8] {
        &self.stderr
    }
}

impl Ended for std::process::Output {
    fn status(&self) -> ExitStatus {
        self.status
    }
    fn stderr_bytes(&self) -> &[u8] {
        &self.stderr
    }
}

/// The child's stderr as text.
pub fn stderr(out: &impl Ended) -> String {
    String::from_utf8_lossy(out.stderr_bytes()).into_owned()
}

/// Whether the child was killed by SIGABRT.
#[cfg(unix)]
pub fn aborted(out: &impl Ended) -> bool {
    out.status().signal() == Some(libc::SIGABRT)
}

/// Whether the child ended by `std::process::abort`: a fail-fast exception,
/// exit code `STATUS_STACK_BUFFER_OVERRUN` (0xC0000409).
#[cfg(windows)]
pub fn aborted(out: &impl Ended) -> bool {
    out.status().code() == Some(0xC000_0409_u32 as i32)
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

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent while [`quietly`] or
/// [`expect_panic`] runs on the panicking thread and defers to the previous
/// hook otherwise. With `RUST_BACKTRACE=1`, the default hook would resolve
/// a backtrace for every expected panic.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    // Inside a guarded scope too: what installing allocates is permitted.
    ONCE.call_once(|| {
        alloc_guard::permit_alloc(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !QUIET.with(Cell::get) {
                    previous(info);
                }
            }));
        })
    });
}

/// Runs `f`, catching a panic without printing it; returns whether it
/// panicked. The payload is dropped inside [`alloc_guard::permit_alloc`], so
/// an enclosing guard does not see its free. Call `quietly(|| {})` once
/// before guarded code to install the hook outside it.
pub fn quietly(f: impl FnOnce()) -> bool {
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    let panicked = result.is_err();
    alloc_guard::permit_alloc(|| drop(result));
    panicked
}

/// Runs `f`, expecting it to panic, and returns the panic message (the
/// panic is not printed; the payload is dropped inside
/// [`alloc_guard::permit_alloc`]).
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    install_quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    match result {
        Ok(value) => {
            alloc_guard::permit_alloc(|| drop(value));
            panic!("expected a panic, but the closure returned normally")
        }
        Err(payload) => alloc_guard::permit_alloc(move || panic_message(&*payload)),
    }
}
