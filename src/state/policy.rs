//! State: `Policy`, what a guard does when its scope touches the heap, and
//! its two-bit encoding in the thread's scope bits.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

/// What a [`NoAllocGuard`](crate::NoAllocGuard) does about a violation.
///
/// Whatever the policy, the allocator itself never unwinds: the offending
/// operation is recorded and served (or the process aborts).
///
/// ```
/// use alloc_guard::{NoAllocGuard, Policy};
///
/// let guard = NoAllocGuard::new(Policy::Panic);
/// let sum: u32 = [1, 2, 3].iter().sum(); // stack work only: no report
/// drop(guard);
/// assert_eq!(sum, 6);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Record the violation, let the operation succeed, and panic when the
    /// guard drops (or at [`NoAllocGuard::check`](crate::NoAllocGuard::check)),
    /// unless the thread is already panicking. The panic message names the
    /// operation, its size, how many violations the scope saw, the guard's
    /// creation site and the first offending call (function, file:line).
    Panic,
    /// Write the report to stderr (without std's locks) and abort the
    /// process before the offending operation returns.
    Abort,
    /// Write the report, with a resolved backtrace, to stderr (without std's
    /// locks) and go on: the operation succeeds.
    LogBacktrace,
}

impl Policy {
    pub(crate) const fn to_bits(self) -> u8 {
        match self {
            Policy::Panic => 0,
            Policy::Abort => 1,
            Policy::LogBacktrace => 2,
        }
    }

    pub(crate) const fn from_bits(bits: u8) -> Policy {
        match bits & 3 {
            1 => Policy::Abort,
            2 => Policy::LogBacktrace,
            _ => Policy::Panic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Policy;

    #[test]
    fn bits_round_trip() {
        for p in [Policy::Panic, Policy::Abort, Policy::LogBacktrace] {
            assert_eq!(Policy::from_bits(p.to_bits()), p);
            assert!(p.to_bits() < 4, "two bits in the scope byte");
        }
        // Only the low two bits are read: higher scope bits never leak in.
        assert_eq!(Policy::from_bits(0b1101), Policy::Abort);
        assert_eq!(Policy::from_bits(3), Policy::Panic);
    }
}
