//! [`MonoTime`]: instants on the clock the XDP program reads for expiry
//! (`bpf_ktime_get_coarse_ns()`, which is `CLOCK_MONOTONIC_COARSE`), and their conversion to
//! and from wall-clock time (`CLOCK_REALTIME`, what `Block::expires_at` holds).
//!
//! The kernel enforces a block's TTL against the coarse monotonic clock: it never jumps when the
//! wall clock is set, so a deadline written into a map stays right while no daemon runs, and it
//! costs the drop path a few nanoseconds where `bpf_ktime_get_boot_ns()` cost about 40 on this
//! VM (bench/README.md, "Drop path"). Its resolution is one tick (1-4 ms), nothing for a TTL.
//! Unlike `CLOCK_BOOTTIME` it stops while the host is suspended: a suspended host's blocks end
//! later by the time it slept. Userspace converts through the current offset between the two
//! clocks, read back to back; a wall-clock step between writing and reading an entry shifts the
//! wall-clock view of its deadline (what `block list` shows), never the kernel's.

use chrono::{DateTime, Utc};

/// Nanoseconds on `CLOCK_MONOTONIC_COARSE` (the clock of `bpf_ktime_get_coarse_ns()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonoTime(pub u64);

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime writes only into it.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    // Both clocks exist on every Linux this crate runs on (MONOTONIC_COARSE since 2.6.32); a failure
    // is a broken invariant of the platform.
    assert_eq!(rc, 0, "clock_gettime({clock})");
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl MonoTime {
    /// Now, on `CLOCK_MONOTONIC_COARSE`.
    pub fn now() -> MonoTime {
        MonoTime(u64::try_from(clock_ns(libc::CLOCK_MONOTONIC_COARSE)).unwrap_or(0))
    }

    /// The monotonic instant of wall-clock `at`. An instant before the clock's origin maps to 1 ns
    /// (already past, and never 0, which the maps read as "permanent").
    pub fn from_wall(at: DateTime<Utc>) -> MonoTime {
        let (mono, real) = (
            clock_ns(libc::CLOCK_MONOTONIC_COARSE),
            clock_ns(libc::CLOCK_REALTIME),
        );
        let wall =
            i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos());
        let ns = mono + (wall - real);
        MonoTime(u64::try_from(ns.clamp(1, i128::from(u64::MAX))).unwrap_or(u64::MAX))
    }

    /// The wall-clock instant of this monotonic instant, at the current offset.
    pub fn to_wall(self) -> DateTime<Utc> {
        let (mono, real) = (
            clock_ns(libc::CLOCK_MONOTONIC_COARSE),
            clock_ns(libc::CLOCK_REALTIME),
        );
        let wall = real + (i128::from(self.0) - mono);
        let secs = i64::try_from(wall.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
        let nanos = u32::try_from(wall.rem_euclid(1_000_000_000)).unwrap_or(0);
        DateTime::from_timestamp(secs, nanos).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// This instant plus `d` (saturating).
    pub fn after(self, d: std::time::Duration) -> MonoTime {
        MonoTime(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    /// Tolerance of a round trip through the two clocks (read back to back, not at once).
    const ROUND_TRIP_SLACK: TimeDelta = TimeDelta::milliseconds(50);

    #[test]
    fn wall_and_monotonic_time_round_trip() {
        let t = Utc::now() + TimeDelta::hours(1);
        let back = MonoTime::from_wall(t).to_wall();
        assert!((back - t).abs() < ROUND_TRIP_SLACK, "{t} -> {back}");
        assert!(MonoTime::from_wall(t) > MonoTime::now());
    }

    #[test]
    fn a_past_instant_is_past_and_never_permanent() {
        let b = MonoTime::from_wall(DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!(b, MonoTime(1));
        assert!(b < MonoTime::now());
        assert!(MonoTime::from_wall(Utc::now()).0 > 1);
    }
}
