/* The per-CPU event rate limit shared by the BPF programs (ebpf-engine's XDP filter,
 * process-monitor's probes): a token bucket in nano-tokens that refills `rate` tokens per second
 * up to `burst`. The including program defines `struct rate_state` ({tokens, last_ns}) and
 * NANO_TOKENS_PER_EVENT in its own header (userspace mirrors both); build-support/bpf.rs puts this
 * directory on clang's include path. */
#ifndef IRONPOST_TOKEN_BUCKET_H
#define IRONPOST_TOKEN_BUCKET_H

/* Takes one token from `st`: 1 when there was one, 0 when the event is over the rate. Elapsed
 * time is capped at `refill_cap_ns` (the time to fill the bucket), which keeps elapsed * rate
 * from overflowing. */
static __always_inline int token_bucket_take(struct rate_state *st, __u64 rate, __u64 burst,
					     __u64 refill_cap_ns)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 cap = burst * NANO_TOKENS_PER_EVENT;
	__u64 tokens, elapsed;

	if (st->last_ns == 0) {
		tokens = cap;
	} else {
		elapsed = now - st->last_ns;
		if (elapsed > refill_cap_ns)
			elapsed = refill_cap_ns;
		tokens = st->tokens + elapsed * rate;
		if (tokens > cap)
			tokens = cap;
	}
	st->last_ns = now;
	if (tokens < NANO_TOKENS_PER_EVENT) {
		st->tokens = tokens;
		return 0;
	}
	st->tokens = tokens - NANO_TOKENS_PER_EVENT;
	return 1;
}

#endif
