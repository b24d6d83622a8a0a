/* Structs and constants shared by the XDP program (xdp_filter.bpf.c) and its Rust loader
 * (src/maps.rs mirrors every struct with #[repr(C)] and asserts the same sizes).
 *
 * Every struct is laid out without implicit padding: fields are ordered largest first and any
 * padding is an explicit `_pad` field, so the two sides cannot disagree about offsets.
 * Addresses are kept in network byte order, as 16 bytes; IPv4 is stored v4-mapped
 * (::ffff:a.b.c.d) wherever both families share a field. Ports are in host byte order. */
#ifndef IRONPOST_XDP_FILTER_H
#define IRONPOST_XDP_FILTER_H

#include <linux/types.h>

/* Indexes of the `stats` map. */
#define STAT_TCP 0
#define STAT_UDP 1
#define STAT_ICMP 2 /* ICMP over IPv4 and ICMPv6 over IPv6 */
#define STAT_OTHER 3 /* other IP protocols, non-IP frames and malformed frames */
#define STAT_TOTAL 4
#define STAT_SLOTS 5

/* Indexes of the `counters` map. */
#define CNT_MALFORMED 0 /* truncated or inconsistent headers (passed untouched) */
#define CNT_EVENTS_SENT 1 /* events submitted to the ring buffer */
#define CNT_EVENTS_RINGBUF_FULL 2 /* events lost: bpf_ringbuf_reserve failed */
#define CNT_EVENTS_RATE_LIMITED 3 /* events suppressed by the token bucket */
#define CNT_EXPIRED_PASSED 4 /* packets whose blocklist entry had expired (entry ignored) */
#define CNT_SLOTS 5

/* Actions in map values and events. */
#define ACTION_PASS 0
#define ACTION_DROP 1
#define ACTION_MONITOR 2

/* `match_rule.flags`: which fields of the rule are set. */
#define MATCH_SRC 0x1
#define MATCH_DST 0x2
#define MATCH_DST_PORT 0x4
#define MATCH_PROTO 0x8

/* `filter_config.nonempty`: which source-address maps hold at least one entry. Userspace (the
 * only writer of these maps) keeps the bits up to date after every insert and removal; the
 * program skips the lookup of a map whose bit is clear. A set bit on an empty map only costs a
 * lookup that misses. */
#define LIST_ALLOW_V4 0x01 /* allowlist_v4 */
#define LIST_ALLOW_V6 0x02 /* allowlist_v6 */
#define LIST_BLOCK_HOST_V4 0x04 /* block_hosts_v4 */
#define LIST_BLOCK_HOST_V6 0x08 /* block_hosts_v6 */
#define LIST_BLOCK_NET_V4 0x10 /* blocklist_v4 */
#define LIST_BLOCK_NET_V6 0x20 /* blocklist_v6 */
#define LIST_ALL 0x3f

/* Capacity of the `match_rules` array (rules that constrain more than the source address). */
#define MAX_MATCH_RULES 64

/* `hits` slots [0, MAX_MATCH_RULES) belong to the match rules (slot = index in `match_rules`);
 * userspace hands the others to blocklist and allowlist entries (`lpm_value.slot`). */
#define NO_SLOT 0xffffffffU

/* Capacity of the `dst_tcp` LRU map (destinations with TCP counters). */
#define DST_TCP_MAX_ENTRIES 16384

/* Token bucket unit: one event costs this many "nano-tokens", so that refill can be computed as
 * elapsed_ns * events_per_sec without a division. */
#define NANO_TOKENS_PER_EVENT 1000000000ULL

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Key of `block_hosts_v6`: one source address (a /128), network order. `block_hosts_v4` is keyed
 * by the IPv4 address as a __be32. */
struct host_v6_key {
	__u8 addr[16];
};

/* Value of the blocklist maps (tries and host hashes) and of the allowlist tries. `action` is
 * ACTION_DROP or ACTION_MONITOR in the blocklist; it is ignored in the allowlist.
 * `expires` is the entry's deadline, 0 = permanent: JIFFIES_BASE + the jiffies64 value from which
 * on the program ignores the entry (and counts CNT_EXPIRED_PASSED), whether or not a daemon is
 * running to remove it. Jiffies because the program reads them with bpf_jiffies64(), which the
 * verifier inlines into one load on 64-bit JITs, where a clock helper (ktime) is a call on every
 * packet that hits an expiring entry (bench/README.md, "Drop path"); userspace converts to and
 * from the coarse monotonic clock (src/clock.rs). JIFFIES_BASE (2^62) marks the encoding: an
 * earlier version stored CLOCK_MONOTONIC_COARSE nanoseconds here, which the loader converts
 * (values below the base), and an earlier program that still runs during an upgrade reads a
 * based value as a deadline centuries ahead, so it keeps dropping until it is replaced.
 * `slot` is the entry's index in the `hits` per-CPU array. */
#define JIFFIES_BASE (1ULL << 62)

struct lpm_value {
	__u64 expires;
	__u32 rule_id;
	__u32 action;
	__u32 slot;
	__u32 _pad;
};

/* `clock_sample`: what the `clock_probe` program read, for userspace's conversion between
 * jiffies and the coarse monotonic clock. */
struct clock_sample {
	__u64 jiffies;
	__u64 coarse_ns;
	/* jiffies again after the coarse read: a sample whose two jiffies differ was torn by a tick
	 * (or by the vCPU being descheduled) between the reads and is discarded. */
	__u64 jiffies_after;
};

struct proto_stats {
	__u64 packets;
	__u64 bytes;
	__u64 drops;
};

struct hit_counter {
	__u64 packets;
	__u64 bytes;
};

/* A rule that is more than a source CIDR (dst_ip, dst_port, protocol). Addresses are 16-byte
 * v4-mapped, in network byte order, pre-masked by userspace: a packet address `a` matches when
 * (a & mask) == net for each of the four words. */
struct match_rule {
	__u32 rule_id;
	__u8 action;
	__u8 flags;
	__u8 ip_version; /* 0 = either family, 4 or 6 */
	__u8 proto;
	__u16 dst_port;
	__u16 slot; /* `hits` slot: the rule's index, set by userspace */
	__u32 src_net[4];
	__u32 src_mask[4];
	__u32 dst_net[4];
	__u32 dst_mask[4];
};

/* The single entry of the `config` array, written by userspace. */
struct filter_config {
	__u64 event_rate_per_sec; /* token refill rate, per CPU; 0 = no refill (burst only) */
	__u64 event_burst; /* bucket capacity in events, per CPU */
	__u64 refill_cap_ns; /* elapsed time after which the bucket is full again */
	__u32 match_rule_count; /* entries [0, count) of `match_rules` are live */
	__u32 nonempty; /* LIST_* bits: the source-address maps that hold entries */
};

/* Per-CPU token bucket state. */
struct rate_state {
	__u64 tokens; /* nano-tokens */
	__u64 last_ns; /* bpf_ktime_get_boot_ns() at the last event; 0 = never */
};

/* One record in the `events` ring buffer. */
struct packet_event {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME) */
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u32 length; /* bytes of the frame */
	__u32 rule_id; /* 0 = no rule (suspicious packet) */
	__u8 proto;
	__u8 tcp_flags;
	__u8 action; /* ACTION_PASS (suspicious) or ACTION_MONITOR */
	__u8 ip_version;
};

/* Key of `dst_tcp`: the destination address, 16 bytes in network order, v4-mapped for IPv4. */
struct dst_key {
	__u8 addr[16];
};

/* Value of `dst_tcp` (per CPU): TCP segments to one destination since its entry was created. */
struct dst_tcp_counter {
	__u64 syn; /* SYN without ACK */
	__u64 tcp; /* every TCP segment whose header was parsed */
};

_Static_assert(sizeof(struct lpm_v4_key) == 8, "lpm_v4_key");
_Static_assert(sizeof(struct lpm_v6_key) == 20, "lpm_v6_key");
_Static_assert(sizeof(struct host_v6_key) == 16, "host_v6_key");
_Static_assert(sizeof(struct lpm_value) == 24, "lpm_value");
_Static_assert(sizeof(struct proto_stats) == 24, "proto_stats");
_Static_assert(sizeof(struct hit_counter) == 16, "hit_counter");
_Static_assert(sizeof(struct match_rule) == 76, "match_rule");
_Static_assert(sizeof(struct filter_config) == 32, "filter_config");
_Static_assert(sizeof(struct rate_state) == 16, "rate_state");
_Static_assert(sizeof(struct packet_event) == 56, "packet_event");
_Static_assert(sizeof(struct dst_key) == 16, "dst_key");
_Static_assert(sizeof(struct dst_tcp_counter) == 16, "dst_tcp_counter");

#endif
