//! A fault point for crash tests: with `OPERATOR_UPGRADE_CRASH_AFTER_WRITE=N` the process aborts (as if
//! killed with SIGKILL: no cleanup, no Lease released) right after its N-th API write. Writes are counted in
//! the order the run makes them, so a test can kill the tool between any two writes in turn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the write to die after.
pub const CRASH_AFTER_WRITE_ENV: &str = "OPERATOR_UPGRADE_CRASH_AFTER_WRITE";

static WRITES: AtomicU64 = AtomicU64::new(0);

fn crash_after() -> Option<u64> {
    static AFTER: OnceLock<Option<u64>> = OnceLock::new();
    *AFTER.get_or_init(|| std::env::var(CRASH_AFTER_WRITE_ENV).ok().and_then(|v| v.parse().ok()))
}

/// Counts one completed API write, and dies there if this is the write the fault point names.
pub fn wrote() {
    let count = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if crash_after() == Some(count) {
        eprintln!("fault point: aborting after API write {count}");
        std::process::abort();
    }
}

/// How many API writes this process has made.
pub fn writes() -> u64 {
    WRITES.load(Ordering::SeqCst)
}
