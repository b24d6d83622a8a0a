//! The kernel's event counters, summed over CPUs: per kind, emitted / rate limited / lost to a
//! full ring buffer. Also the conversion of the events' boot-clock timestamps to wall time.

use std::time::{Duration, SystemTime};

use crate::wire::{EventKind, KIND_COUNT};

/// One kind's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounters {
    /// Submitted to the ring buffer.
    pub emitted: u64,
    /// Suppressed by the kind's per-CPU token bucket.
    pub rate_limited: u64,
    /// Lost because the ring buffer was full.
    pub ringbuf_full: u64,
}

/// Every kind's counters, since the programs were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Indexed like [`EventKind::ALL`].
    pub kinds: [KindCounters; KIND_COUNT],
}

impl KernelCounters {
    pub fn of(&self, kind: EventKind) -> KindCounters {
        self.kinds[kind.index()]
    }

    /// Events lost for any reason, all kinds.
    pub fn dropped(&self) -> u64 {
        self.kinds
            .iter()
            .map(|k| k.rate_limited + k.ringbuf_full)
            .sum()
    }
}

/// `CLOCK_BOOTTIME` now, in nanoseconds.
#[allow(unsafe_code)]
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the duration of the call, and
    // CLOCK_BOOTTIME is a clock id every supported Linux kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// The wall-clock time of an event's `boot_ns`, from both clocks read now.
pub fn boot_ns_to_system_time(boot_ns: u64) -> SystemTime {
    let (now_boot, now_wall) = (boottime_ns(), SystemTime::now());
    let age = Duration::from_nanos(now_boot.abs_diff(boot_ns));
    if boot_ns <= now_boot {
        now_wall.checked_sub(age).unwrap_or(now_wall)
    } else {
        now_wall + age
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_times_convert_to_recent_wall_times() {
        let before = SystemTime::now();
        let t = boot_ns_to_system_time(boottime_ns());
        let after = SystemTime::now();
        assert!(t + Duration::from_millis(50) >= before && t <= after + Duration::from_millis(50));
    }
}
