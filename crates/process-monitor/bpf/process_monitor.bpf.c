// SPDX-License-Identifier: MIT OR GPL-2.0
/* Ironpost's process telemetry: what runs on the host and in its containers.
 *
 *   - tp_btf/sched_process_exec: an execve that succeeded. The new image's filename (as passed to
 *     execve, bprm->filename) and its argument block, read from the new mm's arg_start..arg_end
 *     (at most ARGS_LEN bytes; the tracepoint fires after the new stack is set up, in the
 *     task's own context).
 *   - tp_btf/sched_process_exit: a thread group leader exits (other threads' exits are skipped),
 *     with its wait status.
 *   - tp_btf/inet_sock_set_state into TCP_SYN_SENT: an outbound TCP connect(), in the connecting
 *     task's context (tcp_v4_connect/tcp_v6_connect set the state before sending the SYN).
 *   - fentry/security_file_open: a file opened for writing (O_WRONLY, O_RDWR, O_CREAT or
 *     O_TRUNC) whose resolved path (bpf_d_path, relative to the task's root: a container's own
 *     /etc is "/etc/...") starts with one of the watched prefixes. Resolving the path in the
 *     kernel makes "cd /etc && echo x > passwd" and "../" tricks match like absolute paths; the
 *     prefix test runs before any ring-buffer space is reserved, so unwatched paths cost none.
 *     Where the kernel refuses fentry programs, the loader attaches the syscall tracepoints
 *     sys_enter_{openat,open,creat,openat2} instead, which see only absolute names (below).
 *
 * BTF tracepoints and fentry attach through BTF ids: no tracefs mount is needed. Kernel structs
 * are read with CO-RE relocations (the minimal definitions below carry preserve_access_index;
 * aya relocates them against /sys/kernel/btf/vmlinux at load).
 *
 * Every record starts with `struct event_header` (process_monitor.h). Each kind has its own
 * per-CPU token bucket and its own emitted / rate-limited / ring-buffer-full counters. */
#include <linux/bpf.h>
#include <linux/in6.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "process_monitor.h"
#include "token_bucket.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET_ 2
#define AF_INET6_ 10
#define TCP_SYN_SENT_ 2
#define O_WRONLY_ 00000001
#define O_RDWR_ 00000002
#define O_CREAT_ 00000100
#define O_TRUNC_ 00001000

/* ---- kernel types: only the fields read here, relocated by name at load ---- */

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	int exit_code;
	__u64 start_boottime;
	struct task_struct *real_parent;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));

struct path {
	void *mnt;
	void *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	unsigned int f_flags;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

/* ---- maps (max_entries of `events` is set by the loader) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct monitor_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct path_prefix);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KIND_COUNT);
	__type(key, __u32);
	__type(value, struct rate_state);
} rate_state SEC(".maps");

/* Scratch for the path of an open, resolved before we know whether it is watched. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[PATH_LEN]);
} path_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* ---- counters and rate limit ---- */

static __always_inline void count(__u32 kind, __u32 what)
{
	__u32 idx = kind * CNT_PER_KIND + what;
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	/* Per-CPU values; a tracing program is not re-entered on its CPU for the same slot
	 * (recursion is prevented by the kernel), so plain adds suffice. */
	if (c)
		*c += 1;
}

/* Token bucket per CPU and kind (build-support/bpf/token_bucket.h, shared with the XDP engine). */
static __always_inline int rate_allow(__u32 kind)
{
	__u32 zero = 0;
	struct monitor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct rate_state *st = bpf_map_lookup_elem(&rate_state, &kind);

	if (!cfg || !st)
		return 0;
	if (!token_bucket_take(st, cfg->event_rate_per_sec, cfg->event_burst, cfg->refill_cap_ns)) {
		count(kind, CNT_RATE_LIMITED);
		return 0;
	}
	return 1;
}

/* Reserves a record of `size` bytes for `kind`, or counts why not. */
static __always_inline void *reserve(__u32 kind, __u64 size)
{
	void *e;

	if (!rate_allow(kind))
		return 0;
	e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		count(kind, CNT_RINGBUF_FULL);
	return e;
}

static __always_inline void submit(__u32 kind, void *e)
{
	bpf_ringbuf_submit(e, 0);
	count(kind, CNT_EMITTED);
}

static __always_inline void fill_header(struct event_header *h, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->kind = kind;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* ---- programs ---- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_event *e;
	unsigned long start, end, len;
	const char *filename;
	long n;

	e = reserve(KIND_EXEC, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_EXEC);
	e->start_ns = BPF_CORE_READ(task, start_boottime);
	e->flags = 0;
	e->_pad = 0;

	filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	if (n <= 0) {
		e->filename[0] = 0;
		n = 1;
	}
	e->filename_len = n - 1;
	if (n == PATH_LEN)
		e->flags |= FLAG_PATH_TRUNCATED;

	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > ARGS_LEN) {
		len = ARGS_LEN;
		e->flags |= FLAG_ARGS_TRUNCATED;
	}
	e->args_len = 0;
	if (len > 0 && len <= ARGS_LEN) {
		if (bpf_probe_read_user(e->args, len, (const void *)start) == 0)
			e->args_len = len;
		else
			e->flags |= FLAG_ARGS_UNREADABLE;
	}
	submit(KIND_EXEC, e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exit_event *e;

	/* Only the thread group leader: one event per process, not per thread. */
	if ((__u32)pid_tgid != pid_tgid >> 32)
		return 0;
	e = reserve(KIND_EXIT, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_EXIT);
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->_pad = 0;
	submit(KIND_EXIT, e);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_connect, const struct sock *sk, const int oldstate, const int newstate)
{
	struct connect_event *e;
	unsigned short family;

	if (newstate != TCP_SYN_SENT_)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET_ && family != AF_INET6_)
		return 0;
	e = reserve(KIND_CONNECT, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, KIND_CONNECT);
	e->family = family;
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->_pad = 0;
	if (family == AF_INET_) {
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memset(e->daddr, 0, 10);
		e->daddr[10] = 0xff;
		e->daddr[11] = 0xff;
		__builtin_memcpy(&e->daddr[12], &d, 4);
	} else {
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
	}
	submit(KIND_CONNECT, e);
	return 0;
}

/* 1 when `path` starts with one of the live prefixes. Bounded: MAX_PREFIXES x PREFIX_LEN. */
static __always_inline int watched(const char *path, __u32 count)
{
	for (__u32 i = 0; i < MAX_PREFIXES; i++) {
		struct path_prefix *p;
		__u32 key = i, j, len;
		int ok = 1;

		if (i >= count)
			break;
		p = bpf_map_lookup_elem(&prefixes, &key);
		if (!p)
			break;
		len = p->len;
		if (len == 0 || len > PREFIX_LEN)
			continue;
		for (j = 0; j < PREFIX_LEN; j++) {
			if (j >= len)
				break;
			if (path[j] != p->path[j]) {
				ok = 0;
				break;
			}
		}
		if (ok)
			return 1;
	}
	return 0;
}

/* The flags of an open that may write. */
static __always_inline int writes(__u64 flags)
{
	return (flags & (O_WRONLY_ | O_RDWR_ | O_CREAT_ | O_TRUNC_)) != 0;
}

/* Emits a file event when `path` (n bytes with its NUL, in the per-CPU scratch) is watched. */
static __always_inline void emit_open(const char *path, long n, __u32 flags,
				      __u32 prefix_count)
{
	struct file_open_event *e;

	if (n <= 0 || !watched(path, prefix_count))
		return;
	e = reserve(KIND_FILE_OPEN, sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, KIND_FILE_OPEN);
	e->open_flags = flags;
	/* n counts the NUL; a path that did not fit is cut at PATH_LEN - 1 bytes (the resolved
	 * path of bpf_d_path fails with -ENAMETOOLONG instead and raises nothing). */
	e->path_len = n - 1;
	e->flags = n == PATH_LEN ? FLAG_PATH_TRUNCATED : 0;
	e->_pad = 0;
	bpf_probe_read_kernel(e->path, sizeof(e->path), path);
	submit(KIND_FILE_OPEN, e);
}

static __always_inline struct monitor_config *watching(void)
{
	__u32 zero = 0;
	struct monitor_config *cfg = bpf_map_lookup_elem(&config, &zero);

	return cfg && cfg->prefix_count ? cfg : 0;
}

/* Preferred file hook: the resolved path of every open, after permission checks. */
SEC("fentry/security_file_open")
int BPF_PROG(file_open, struct file *file)
{
	struct monitor_config *cfg = watching();
	__u32 zero = 0;
	unsigned int flags;
	char *path;

	if (!cfg)
		return 0;
	flags = BPF_CORE_READ(file, f_flags);
	if (!writes(flags))
		return 0;
	path = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!path)
		return 0;
	emit_open(path, bpf_d_path(&file->f_path, path, PATH_LEN), flags, cfg->prefix_count);
	return 0;
}

/* Fallback file hooks, for kernels that refuse fentry: the open syscalls' arguments. The name
 * is the caller's string, unresolved: only absolute names can match a prefix, so an open
 * relative to the working directory or to a directory fd is not seen, and `..` or symlinks
 * are not followed (docs/process-monitor.md lists these gaps). The path is copied before the
 * open runs, so a racing writer of the caller's buffer can show another name than the one
 * opened. */
struct sys_enter_ctx {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};

static __always_inline void open_by_name(const char *name, __u64 flags)
{
	struct monitor_config *cfg = watching();
	__u32 zero = 0;
	char *path;
	long n;

	if (!cfg || !writes(flags))
		return;
	path = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!path)
		return;
	n = bpf_probe_read_user_str(path, PATH_LEN, name);
	if (n <= 1 || path[0] != '/')
		return;
	emit_open(path, n, (__u32)flags, cfg->prefix_count);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_openat(struct sys_enter_ctx *ctx)
{
	open_by_name((const char *)ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int sys_open(struct sys_enter_ctx *ctx)
{
	open_by_name((const char *)ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_creat")
int sys_creat(struct sys_enter_ctx *ctx)
{
	open_by_name((const char *)ctx->args[0], O_WRONLY_ | O_CREAT_ | O_TRUNC_);
	return 0;
}

/* openat2(dfd, name, struct open_how *how, size): how->flags is its first u64. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int sys_openat2(struct sys_enter_ctx *ctx)
{
	__u64 flags = 0;

	if (bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]))
		return 0;
	open_by_name((const char *)ctx->args[1], flags);
	return 0;
}
