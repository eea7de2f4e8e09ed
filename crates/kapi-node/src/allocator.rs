//! The C allocator's arena count, capped for a small footprint at idle.
//!
//! glibc's malloc gives a thread that finds the arenas busy an arena of its own (up to eight
//! per core), and each arena keeps what its threads freed for reuse. In `kapi server` the
//! startup bursts (initial lists, the schemas the field validator is compiled from) left three
//! secondary arenas holding 5 MiB of an idle process of 14 (debug build, BENCHMARKS.md).
//! Two arenas keep the store's writer thread and the runtime's workers from queueing on one
//! lock while returning most of that. The glibc tunable `MALLOC_ARENA_MAX`, when set, wins.

/// Arenas allowed when the environment does not say.
pub const DEFAULT_ARENA_MAX: i32 = 2;

/// Caps glibc's malloc arenas at `max` unless `MALLOC_ARENA_MAX` is set; call it before the
/// process starts threads. Returns whether a cap was applied; elsewhere than glibc, nothing
/// happens.
#[allow(unsafe_code)]
pub fn cap_arenas(max: i32) -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes no pointers and only sets an allocator parameter under the
        // allocator's own lock; M_ARENA_MAX is a parameter glibc defines.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, max) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = max;
        false
    }
}
