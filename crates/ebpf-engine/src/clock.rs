//! [`MonoTime`]: instants on the coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`), the
//! crate's API for expiry deadlines, and their conversion to and from wall-clock time
//! (`CLOCK_REALTIME`, what `Block::expires_at` holds); [`JiffyClock`]: their conversion to the
//! kernel's jiffies, which is what the XDP program compares deadlines with.
//!
//! The kernel enforces a block's TTL against jiffies (`bpf_jiffies64()`, inlined by the verifier
//! into one load: the drop path pays no helper call; a clock helper cost 15-40 ns per packet on
//! this VM, bench/README.md "Drop path"). Jiffies count timer ticks on the monotonic clock's
//! timeline: they never jump when the wall clock is set, so a deadline written into a map stays
//! right while no daemon runs. Resolution is one tick (1/HZ: 1-10 ms), nothing for a TTL; a
//! deadline is rounded up to the next tick plus one, so an entry may outlive its deadline by up
//! to two ticks, never end before it. Like the monotonic clock, jiffies stop while the host is
//! suspended: a suspended host's blocks end later by the time it slept. Userspace converts
//! through the current offset between the clocks, read back to back; a wall-clock step between
//! writing and reading an entry shifts the wall-clock view of its deadline (what `block list`
//! shows), never the kernel's.

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

/// Converts between [`MonoTime`] and the jiffies the XDP program compares deadlines with: one
/// sample of both clocks taken at one instant in the kernel (the `clock_probe` program) and the
/// length of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JiffyClock {
    /// `jiffies_64` at the sample.
    pub jiffies: u64,
    /// `CLOCK_MONOTONIC_COARSE` at the sample (read after `jiffies`).
    pub coarse_ns: u64,
    /// Nanoseconds per jiffy (1e9 / HZ).
    pub tick_ns: u64,
}

/// Kernel HZ values (`CONFIG_HZ`) a measured tick is matched against.
const KNOWN_HZ: [u64; 5] = [100, 250, 300, 1000, 1024];

/// How far, in ticks, one sample's coarse time may sit from where its jiffies put it: the coarse
/// clock is updated after jiffies and, on a CPU woken from idle, up to a tick or two late (seen:
/// the first sample a process takes is often one tick stale). Two samples' difference is off by
/// at most this many ticks.
pub const SAMPLE_SLACK_TICKS: u64 = 3;

/// What two clock samples say about the tick length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickFit {
    /// The tick of the one known `CONFIG_HZ` the samples allow, when exactly one fits.
    pub exact: Option<u64>,
    /// The shortest tick the samples allow. Converting with a tick shorter than the real one
    /// gives later jiffies deadlines: entries end late, never early.
    pub at_least: u64,
}

/// `TICK_NSEC` of the kernel for `hz`: nanoseconds per jiffy, rounded to nearest.
const fn tick_nsec(hz: u64) -> u64 {
    (1_000_000_000 + hz / 2) / hz
}

impl JiffyClock {
    /// Fits the tick length to two samples (jiffies, coarse ns): the tick lies between
    /// `dns / (dj + S)` and `dns / (dj - S)` for S = [`SAMPLE_SLACK_TICKS`]. `None` while the
    /// samples are not more than 2 S ticks apart.
    pub fn tick_from_samples(a: (u64, u64), b: (u64, u64)) -> Option<TickFit> {
        let dj =
            b.0.checked_sub(a.0)
                .filter(|d| *d > 2 * SAMPLE_SLACK_TICKS)?;
        let dns = b.1.checked_sub(a.1).filter(|d| *d > 0)?;
        let at_least = dns / (dj + SAMPLE_SLACK_TICKS);
        let at_most = dns.div_ceil(dj - SAMPLE_SLACK_TICKS);
        let mut fits = KNOWN_HZ
            .iter()
            .map(|hz| tick_nsec(*hz))
            .filter(|t| (at_least..=at_most).contains(t));
        let exact = match (fits.next(), fits.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        };
        Some(TickFit {
            exact,
            at_least: at_least.max(1),
        })
    }

    /// The jiffies deadline (without the map's encoding base) for `t`, given the current
    /// instant `now`: a future deadline becomes the tick after it plus one (a sample torn by a
    /// tick or read late in its tick never ends an entry early); a deadline already reached, the
    /// tick before it minus one (already expired for the program, however the sample was
    /// phased). Never 0 (permanent).
    pub fn to_jiffies(&self, t: MonoTime, now: MonoTime) -> u64 {
        let tick = i128::from(self.tick_ns.max(1));
        let since = i128::from(t.0) - i128::from(self.coarse_ns);
        let j = if t > now {
            i128::from(self.jiffies) + div_ceil(since, tick) + 1
        } else {
            i128::from(self.jiffies) + since.div_euclid(tick) - 1
        };
        u64::try_from(j.clamp(1, i128::from(u64::MAX))).unwrap_or(u64::MAX)
    }

    /// The instant at which the program starts ignoring an entry with jiffies deadline `jiffies`
    /// (what [`JiffyClock::to_jiffies`] wrote: between one and two ticks after a future
    /// deadline, up to two ticks before a past one).
    pub fn to_mono(&self, jiffies: u64) -> MonoTime {
        let tick = i128::from(self.tick_ns.max(1));
        let ns =
            i128::from(self.coarse_ns) + (i128::from(jiffies) - i128::from(self.jiffies)) * tick;
        MonoTime(u64::try_from(ns.clamp(1, i128::from(u64::MAX))).unwrap_or(u64::MAX))
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    const HZ250: JiffyClock = JiffyClock {
        jiffies: 4_300_000_000,
        coarse_ns: 10_000_000_000_000,
        tick_ns: 4_000_000,
    };

    #[test]
    fn the_tick_is_the_one_known_hz_the_samples_allow() {
        let a = (1000, 5_000_000_000);
        let fit = |dj: u64, dns: u64| JiffyClock::tick_from_samples(a, (a.0 + dj, a.1 + dns));
        // 10 ticks of 4 ms, the first sample one tick stale (what made the old ratio estimate
        // 4.4 ms and end TTLs 10 % early): still 4 ms.
        assert_eq!(fit(10, 44_000_000).unwrap().exact, Some(4_000_000));
        // Stale the other way, 250 and 300 both fit; 20-odd ticks tell them apart.
        let f = fit(10, 42_000_000).unwrap();
        assert_eq!(f.exact, None);
        assert!(f.at_least <= 3_333_333, "{f:?}");
        assert_eq!(fit(20, 84_000_000).unwrap().exact, Some(4_000_000));
        assert_eq!(fit(24, 92_000_000).unwrap().exact, Some(4_000_000));
        // HZ=300 (the kernel's TICK_NSEC, 3,333,333 ns) and HZ=100.
        assert_eq!(fit(60, 203_333_333).unwrap().exact, Some(3_333_333));
        assert_eq!(fit(30, 310_000_000).unwrap().exact, Some(10_000_000));
        // An unknown HZ (200) fits none: the shortest tick the samples allow, never longer
        // than the real one.
        let f = fit(100, 500_000_000).unwrap();
        assert_eq!(f.exact, None);
        assert!(f.at_least <= 5_000_000 && f.at_least > 4_800_000, "{f:?}");
        // Too close, or backwards: no answer.
        assert_eq!(fit(6, 24_000_000), None);
        assert_eq!(JiffyClock::tick_from_samples(a, a), None);
        assert_eq!(
            JiffyClock::tick_from_samples((a.0 + 20, a.1 + 80_000_000), a),
            None
        );
    }

    #[test]
    fn future_deadlines_round_up_and_past_ones_are_expired() {
        let c = HZ250;
        let now = MonoTime(c.coarse_ns + 10_000_000);
        // Reached: the tick before, minus one (expired for the program).
        assert_eq!(c.to_jiffies(now, now), c.jiffies + 1);
        assert_eq!(c.to_jiffies(MonoTime(now.0 - 1), now), c.jiffies + 1);
        assert_eq!(c.to_jiffies(MonoTime(c.coarse_ns), now), c.jiffies - 1);
        assert_eq!(c.to_jiffies(MonoTime(c.coarse_ns - 1), now), c.jiffies - 2);
        assert_eq!(c.to_jiffies(MonoTime(1), now), c.jiffies - 2_500_001);
        // Ahead: the next tick, plus the margin.
        assert_eq!(c.to_jiffies(MonoTime(now.0 + 1), now), c.jiffies + 4);
        assert_eq!(
            c.to_jiffies(MonoTime(c.coarse_ns + 12_000_000), now),
            c.jiffies + 4
        );
        assert_eq!(
            c.to_jiffies(MonoTime(c.coarse_ns + 12_000_001), now),
            c.jiffies + 5
        );
        // Never 0 (permanent).
        let early = JiffyClock {
            jiffies: 3,
            ..HZ250
        };
        assert_eq!(early.to_jiffies(MonoTime(1), now), 1);
    }

    #[test]
    fn a_future_deadline_ends_one_to_two_ticks_after_itself() {
        let c = HZ250;
        let now = MonoTime(c.coarse_ns);
        for ahead in [1, 3_999_999, 4_000_000, 3_600_000_000_123] {
            let t = MonoTime(c.coarse_ns + ahead);
            let end = c.to_mono(c.to_jiffies(t, now));
            assert!(
                end.0 - t.0 >= c.tick_ns && end.0 - t.0 < 2 * c.tick_ns,
                "{ahead}: {end:?}"
            );
        }
        let past = MonoTime(c.coarse_ns - 40_000_000);
        let end = c.to_mono(c.to_jiffies(past, now));
        assert!(end < past && past.0 - end.0 <= 2 * c.tick_ns, "{end:?}");
    }

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
