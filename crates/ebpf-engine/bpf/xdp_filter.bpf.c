// SPDX-License-Identifier: MIT OR GPL-2.0
/* Ironpost's XDP filter: parses Ethernet (+ up to two 802.1Q/802.1ad tags), IPv4 (with options)
 * and IPv6 (fixed header), then TCP, UDP, ICMP and ICMPv6, and decides per packet:
 *
 *   1. allowlist_v4/v6 (LPM on the source address) match -> PASS; nothing else is evaluated.
 *   2. the blocklist entry for the source address, longest prefix first: block_hosts_v4/v6 (exact
 *      match: the /32 and /128 entries), else blocklist_v4/v6 (LPM: the shorter prefixes). A
 *      `drop` entry -> DROP.
 *   3. match_rules (linear, in array order): the first `drop` rule -> DROP.
 *   4. otherwise the first `monitor` match (blocklist entry first, then rules) -> PASS + event.
 *   5. otherwise a TCP SYN without ACK -> PASS + event (rule id 0).
 *
 * Before the verdict, every TCP segment whose header was parsed is counted per destination
 * address in `dst_tcp` ({SYN without ACK, all TCP}), whatever the verdict: allowlisted, dropped
 * and monitored segments count alike. The map measures the load arriving for a destination, not
 * what gets through: a SYN flood whose sources are already blocked must not look like recovery
 * to the userspace SYN flood detector (crates/ebpf-engine/src/detect/syn_flood.rs). Non-first
 * IPv4 fragments carry no TCP header and are not counted.
 *
 * Malformed or truncated frames are passed untouched and counted (stats "other" + counters
 * CNT_MALFORMED): the kernel stack rejects them anyway, and XDP must never drop what it cannot
 * parse. Drops raise no event: a blocked flood must not spend the event budget; they are visible
 * in the per-protocol drop counters and the per-entry hit counters (`hits`, by slot).
 *
 * Expiry is enforced here: a blocklist entry whose `expires` deadline has passed is ignored
 * (counted in CNT_EXPIRED_PASSED), so a TTL ends on time even while no daemon runs; userspace
 * only garbage-collects expired entries.
 *
 * Cost per packet: the source-address lookups are the part that grows with the number of
 * entries. An LPM trie lookup walks a path that gets longer as the trie fills (about log2(n)
 * nodes for n scattered addresses); a hash lookup costs the same at any size. So single
 * addresses, which most run-time blocks are, live in hash maps and the tries keep only the
 * shorter prefixes. A map that userspace reports empty (`filter_config.nonempty`) is not looked
 * up at all.
 *
 * Every packet access is preceded by an explicit bounds check against data_end. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_filter.h"
#include "token_bucket.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IP_OFFSET_MASK 0x1FFF
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define ICMP_HDR_LEN 8 /* ICMP and ICMPv6: type, code, checksum, 4 bytes of rest-of-header */

/* uapi has no VLAN header (it lives in the kernel-internal linux/if_vlan.h). */
struct vlan_hdr_ {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* ---- maps (max_entries below are defaults; the loader sets them from the config) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10000);
	__type(key, struct lpm_v4_key);
	__type(value, struct lpm_value);
} blocklist_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10000);
	__type(key, struct lpm_v6_key);
	__type(value, struct lpm_value);
} blocklist_v6 SEC(".maps");

/* The blocklist's host entries (/32, /128): userspace puts every full-length prefix here and every
 * shorter one in the tries above, so each entry lives in exactly one map. A host entry is the
 * longest prefix there can be, so a hit here is what a trie holding every entry would return,
 * and the tries need no lookup. The loader sizes these like the tries and counts both maps of a
 * family against `blocklist_max_entries`. Not preallocated: memory follows the entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10000);
	__type(key, __be32);
	__type(value, struct lpm_value);
} block_hosts_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 10000);
	__type(key, struct host_v6_key);
	__type(value, struct lpm_value);
} block_hosts_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct lpm_v4_key);
	__type(value, struct lpm_value);
} allowlist_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct lpm_v6_key);
	__type(value, struct lpm_value);
} allowlist_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_MATCH_RULES);
	__type(key, __u32);
	__type(value, struct match_rule);
} match_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_SLOTS);
	__type(key, __u32);
	__type(value, struct proto_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Hit counters by slot: a match rule's index, or the `slot` userspace stored in a blocklist or
 * allowlist entry. An array, not a hash keyed by rule id: the verifier inlines an array lookup
 * into a bounds check and an address computation, where a hash lookup hashes the key and walks
 * a bucket on every counted packet (the drop path's main extra cost before). Per CPU: a flood
 * from one source hits one counter from every CPU, which shared counters would turn into
 * cache-line bouncing. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 22048);
	__type(key, __u32);
	__type(value, struct hit_counter);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rate_state);
} rate_state SEC(".maps");

/* Per-destination TCP counters for the SYN flood detector. LRU: when full, the kernel evicts
 * (approximately) the least recently used destination, so a flood's target (used on every
 * segment) stays; userspace sees an evicted destination's counters restart from zero. Per CPU: under a flood
 * every CPU updates the same entry, which shared atomics would turn into cache-line bouncing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, DST_TCP_MAX_ENTRIES);
	__type(key, struct dst_key);
	__type(value, struct dst_tcp_counter);
} dst_tcp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* One sample of both clocks, written by `clock_probe` (run by userspace through
 * BPF_PROG_TEST_RUN, never attached). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_sample);
} clock_sample SEC(".maps");

/* ---- parsing ---- */

#define PARSE_OK 0
#define PARSE_NOT_IP 1
#define PARSE_MALFORMED 2

struct parsed {
	__u32 saddr[4]; /* network order, v4-mapped for IPv4 */
	__u32 daddr[4];
	__u16 sport; /* host order */
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 ip_version;
	__u8 has_ports; /* TCP/UDP header present (not a non-first fragment) */
};

static __always_inline void map_v4(__u32 *dst, __be32 addr)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0x0000ffff);
	dst[3] = addr;
}

static __always_inline int parse_l4(void *l4, void *data_end, struct parsed *p)
{
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end)
			return PARSE_MALFORMED;
		if (th->doff < 5)
			return PARSE_MALFORMED;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
		p->has_ports = 1;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end)
			return PARSE_MALFORMED;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->has_ports = 1;
	} else if ((p->ip_version == 4 && p->proto == IPPROTO_ICMP) ||
		   (p->ip_version == 6 && p->proto == IPPROTO_ICMPV6)) {
		if (l4 + ICMP_HDR_LEN > data_end)
			return PARSE_MALFORMED;
	}
	return PARSE_OK;
}

static __always_inline int parse(struct xdp_md *ctx, struct parsed *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cur;
	__be16 h_proto;

	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED;
	h_proto = eth->h_proto;
	cur = eth + 1;

	/* At most two tags (802.1ad outer + 802.1Q inner); a third tag is "not IP". */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct vlan_hdr_ *vh = cur;
		if (h_proto != bpf_htons(ETH_P_8021Q_) && h_proto != bpf_htons(ETH_P_8021AD_))
			break;
		if ((void *)(vh + 1) > data_end)
			return PARSE_MALFORMED;
		h_proto = vh->encapsulated_proto;
		cur = vh + 1;
	}

	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		__u32 hdr_len;
		void *l4;

		if ((void *)(iph + 1) > data_end)
			return PARSE_MALFORMED;
		if (iph->version != 4 || iph->ihl < 5)
			return PARSE_MALFORMED;
		hdr_len = iph->ihl * 4;
		l4 = cur + hdr_len;
		if (l4 > data_end)
			return PARSE_MALFORMED;
		p->ip_version = 4;
		p->proto = iph->protocol;
		map_v4(p->saddr, iph->saddr);
		map_v4(p->daddr, iph->daddr);
		/* A non-first fragment carries no transport header: match on addresses only. */
		if (iph->frag_off & bpf_htons(IP_OFFSET_MASK))
			return PARSE_OK;
		return parse_l4(l4, data_end, p);
	}

	if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_MALFORMED;
		if (ip6->version != 6)
			return PARSE_MALFORMED;
		p->ip_version = 6;
		/* Extension headers are not walked: their next-header value is counted as "other". */
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		return parse_l4(ip6 + 1, data_end, p);
	}

	return PARSE_NOT_IP;
}

/* ---- counters ---- */

static __always_inline void count_stats(__u32 slot, __u64 len, __u64 dropped)
{
	struct proto_stats *s = bpf_map_lookup_elem(&stats, &slot);
	__u32 total = STAT_TOTAL;

	/* Per-CPU values: no other writer on this CPU while XDP runs, so plain adds suffice. */
	if (s) {
		s->packets += 1;
		s->bytes += len;
		s->drops += dropped;
	}
	s = bpf_map_lookup_elem(&stats, &total);
	if (s) {
		s->packets += 1;
		s->bytes += len;
		s->drops += dropped;
	}
}

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += 1;
}

static __always_inline void count_hit(__u32 slot, __u64 len)
{
	struct hit_counter *h = bpf_map_lookup_elem(&hits, &slot);

	/* NO_SLOT (or any slot past the array) is not counted; the verdict is unaffected. */
	if (h) {
		h->packets += 1;
		h->bytes += len;
	}
}

/* An entry is live until its deadline; 0 = permanent. The deadline is in jiffies (plus
 * JIFFIES_BASE, see xdp_filter.h): bpf_jiffies64() is inlined by the verifier into a load, where
 * bpf_ktime_get_coarse_ns() was a helper call costing about 15 ns per packet hitting an expiring
 * entry and bpf_ktime_get_boot_ns() about 40 (bench/README.md). */
static __always_inline int live(const struct lpm_value *v)
{
	return v->expires == 0 || v->expires > bpf_jiffies64() + JIFFIES_BASE;
}

/* Counts a TCP segment (header parsed) for its destination in `dst_tcp`. */
static __always_inline void count_dst_tcp(const struct parsed *p)
{
	struct dst_key key;
	struct dst_tcp_counter *c;
	__u64 syn = (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;

	__builtin_memcpy(key.addr, p->daddr, 16);
	c = bpf_map_lookup_elem(&dst_tcp, &key);
	if (!c) {
		struct dst_tcp_counter first = { .syn = syn, .tcp = 1 };

		/* A new entry starts at this CPU's segment (the kernel zeroes the other CPUs' slots).
		 * When BPF_NOEXIST fails, another CPU created the entry meanwhile: count into it. */
		if (bpf_map_update_elem(&dst_tcp, &key, &first, BPF_NOEXIST) == 0)
			return;
		c = bpf_map_lookup_elem(&dst_tcp, &key);
		if (!c)
			return;
	}
	c->syn += syn;
	c->tcp += 1;
}

static __always_inline __u32 stat_slot(const struct parsed *p)
{
	if (p->proto == IPPROTO_TCP)
		return STAT_TCP;
	if (p->proto == IPPROTO_UDP)
		return STAT_UDP;
	if ((p->ip_version == 4 && p->proto == IPPROTO_ICMP) ||
	    (p->ip_version == 6 && p->proto == IPPROTO_ICMPV6))
		return STAT_ICMP;
	return STAT_OTHER;
}

/* ---- events ---- */

/* Token bucket per CPU (build-support/bpf/token_bucket.h, shared with the process monitor). */
static __always_inline int rate_allow(void)
{
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct rate_state *st = bpf_map_lookup_elem(&rate_state, &zero);

	if (!cfg || !st)
		return 0;
	if (!token_bucket_take(st, cfg->event_rate_per_sec, cfg->event_burst, cfg->refill_cap_ns)) {
		count(CNT_EVENTS_RATE_LIMITED);
		return 0;
	}
	return 1;
}

static __always_inline void emit_event(const struct parsed *p, __u32 len, __u8 action,
				       __u32 rule_id)
{
	struct packet_event *e;

	if (!rate_allow())
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_EVENTS_RINGBUF_FULL);
		return;
	}
	e->ts_ns = bpf_ktime_get_boot_ns();
	__builtin_memcpy(e->src_addr, p->saddr, 16);
	__builtin_memcpy(e->dst_addr, p->daddr, 16);
	e->src_port = p->sport;
	e->dst_port = p->dport;
	e->length = len;
	e->rule_id = rule_id;
	e->proto = p->proto;
	e->tcp_flags = p->tcp_flags;
	e->action = action;
	e->ip_version = p->ip_version;
	bpf_ringbuf_submit(e, 0);
	count(CNT_EVENTS_SENT);
}

/* ---- rules ---- */

static __always_inline int addr_in(const __u32 *addr, const __u32 *net, const __u32 *mask)
{
	return (addr[0] & mask[0]) == net[0] && (addr[1] & mask[1]) == net[1] &&
	       (addr[2] & mask[2]) == net[2] && (addr[3] & mask[3]) == net[3];
}

static __always_inline int rule_matches(const struct match_rule *r, const struct parsed *p)
{
	if (r->ip_version && r->ip_version != p->ip_version)
		return 0;
	if ((r->flags & MATCH_PROTO) && r->proto != p->proto)
		return 0;
	if ((r->flags & MATCH_DST_PORT) && (!p->has_ports || r->dst_port != p->dport))
		return 0;
	if ((r->flags & MATCH_SRC) && !addr_in(p->saddr, r->src_net, r->src_mask))
		return 0;
	if ((r->flags & MATCH_DST) && !addr_in(p->daddr, r->dst_net, r->dst_mask))
		return 0;
	return 1;
}

struct verdict {
	__u32 action; /* ACTION_PASS, ACTION_DROP or ACTION_MONITOR */
	__u32 rule_id;
	__u32 slot; /* `hits` index of the deciding entry; NO_SLOT when none */
};

/* The source-address lookups, one function per family. Every bpf_map_lookup_elem() call below
 * names one map: the verifier inlines a hash lookup, or calls a trie's lookup directly, only at a
 * call site that always sees the same map; a call site shared by two maps (as a helper taking
 * the map as an argument would produce) goes through an indirect call, behind a retpoline when
 * the kernel mitigates Spectre v2. */

/* IPv4. Sets *allow to the allowlist entry holding `src`; if there is none, sets *block to the
 * blocklist entry with the longest prefix holding `src`: its host entry if there is one (no
 * prefix is longer), else the trie's longest-prefix match. Leaves NULL where nothing matches. */
static __always_inline void lookup_v4(__be32 src, __u32 nonempty, struct lpm_value **allow,
				      struct lpm_value **block)
{
	struct lpm_v4_key key = { .prefixlen = 32 };

	__builtin_memcpy(key.addr, &src, 4);
	if (nonempty & LIST_ALLOW_V4) {
		*allow = bpf_map_lookup_elem(&allowlist_v4, &key);
		if (*allow)
			return;
	}
	if (nonempty & LIST_BLOCK_HOST_V4) {
		*block = bpf_map_lookup_elem(&block_hosts_v4, &src);
		if (*block) {
			if (live(*block))
				return;
			/* Expired: a shorter prefix may still hold the source. */
			count(CNT_EXPIRED_PASSED);
			*block = NULL;
		}
	}
	if (nonempty & LIST_BLOCK_NET_V4) {
		*block = bpf_map_lookup_elem(&blocklist_v4, &key);
		if (*block && !live(*block)) {
			count(CNT_EXPIRED_PASSED);
			*block = NULL;
		}
	}
}

/* IPv6: as lookup_v4. */
static __always_inline void lookup_v6(const __u32 *src, __u32 nonempty, struct lpm_value **allow,
				      struct lpm_value **block)
{
	struct lpm_v6_key key = { .prefixlen = 128 };
	struct host_v6_key host;

	__builtin_memcpy(key.addr, src, 16);
	if (nonempty & LIST_ALLOW_V6) {
		*allow = bpf_map_lookup_elem(&allowlist_v6, &key);
		if (*allow)
			return;
	}
	if (nonempty & LIST_BLOCK_HOST_V6) {
		__builtin_memcpy(host.addr, src, 16);
		*block = bpf_map_lookup_elem(&block_hosts_v6, &host);
		if (*block) {
			if (live(*block))
				return;
			count(CNT_EXPIRED_PASSED);
			*block = NULL;
		}
	}
	if (nonempty & LIST_BLOCK_NET_V6) {
		*block = bpf_map_lookup_elem(&blocklist_v6, &key);
		if (*block && !live(*block)) {
			count(CNT_EXPIRED_PASSED);
			*block = NULL;
		}
	}
}

static __always_inline struct verdict decide(const struct parsed *p)
{
	struct verdict v = { ACTION_PASS, 0, NO_SLOT };
	struct verdict monitor = { ACTION_PASS, 0, NO_SLOT };
	struct lpm_value *allow = NULL, *hit = NULL;
	__u32 zero = 0, n, nonempty;
	struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);

	/* Index 0 of an array always exists; without it, look everywhere and run no rules. */
	nonempty = cfg ? cfg->nonempty : LIST_ALL;
	n = cfg ? cfg->match_rule_count : 0;

	if (p->ip_version == 4)
		lookup_v4(p->saddr[3], nonempty, &allow, &hit);
	else
		lookup_v6(p->saddr, nonempty, &allow, &hit);
	if (allow) {
		v.rule_id = allow->rule_id;
		v.slot = allow->slot;
		return v;
	}
	if (hit) {
		if (hit->action == ACTION_DROP) {
			v.action = ACTION_DROP;
			v.rule_id = hit->rule_id;
			v.slot = hit->slot;
			return v;
		}
		if (hit->action == ACTION_MONITOR) {
			monitor.action = ACTION_MONITOR;
			monitor.rule_id = hit->rule_id;
			monitor.slot = hit->slot;
		}
	}

#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < MAX_MATCH_RULES; i++) {
		__u32 idx = i;
		struct match_rule *r;

		if (i >= n)
			break;
		r = bpf_map_lookup_elem(&match_rules, &idx);
		if (!r)
			break;
		if (!rule_matches(r, p))
			continue;
		if (r->action == ACTION_DROP) {
			v.action = ACTION_DROP;
			v.rule_id = r->rule_id;
			/* Read from the map, not `i`: a constant per iteration would keep the verifier
			 * from pruning states across iterations (the program would not load). */
			v.slot = r->slot;
			return v;
		}
		if (r->action == ACTION_MONITOR && monitor.action == ACTION_PASS) {
			monitor.action = ACTION_MONITOR;
			monitor.rule_id = r->rule_id;
			monitor.slot = r->slot;
		}
	}
	return monitor;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct parsed p = {};
	struct verdict v;
	__u32 slot;
	int rc;

	rc = parse(ctx, &p);
	if (rc != PARSE_OK) {
		if (rc == PARSE_MALFORMED)
			count(CNT_MALFORMED);
		count_stats(STAT_OTHER, len, 0);
		return XDP_PASS;
	}

	slot = stat_slot(&p);
	if (p.proto == IPPROTO_TCP && p.has_ports)
		count_dst_tcp(&p);
	v = decide(&p);
	if (v.rule_id != 0)
		count_hit(v.slot, len);
	if (v.action == ACTION_DROP) {
		count_stats(slot, len, 1);
		return XDP_DROP;
	}
	if (v.action == ACTION_MONITOR)
		emit_event(&p, len, ACTION_MONITOR, v.rule_id);
	else if (v.rule_id == 0 && p.proto == IPPROTO_TCP &&
		 (p.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		emit_event(&p, len, ACTION_PASS, 0);
	count_stats(slot, len, 0);
	return XDP_PASS;
}

/* Not attached anywhere: userspace runs it through BPF_PROG_TEST_RUN to read jiffies and the
 * coarse monotonic clock at one instant, the pair it converts deadlines with (src/clock.rs). */
SEC("xdp")
int clock_probe(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct clock_sample *s = bpf_map_lookup_elem(&clock_sample, &zero);

	/* Jiffies before and after the coarse clock: userspace keeps only samples where both
	 * agree, so no tick fell between the reads (a torn pair has a monotonic time one tick too
	 * late for its jiffies and would convert deadlines to jiffies a tick too early). */
	if (s) {
		s->jiffies = bpf_jiffies64();
		s->coarse_ns = bpf_ktime_get_coarse_ns();
		s->jiffies_after = bpf_jiffies64();
	}
	return XDP_PASS;
}
