/* Structs and constants shared by the telemetry programs (process_monitor.bpf.c) and the Rust
 * side: src/wire.rs decodes every record at these offsets and rejects any other size than the
 * ones asserted below (its *_SIZE constants); src/kernel.rs mirrors monitor_config and
 * path_prefix. The kernel tests decode real records and assert none was rejected.
 *
 * Every struct is laid out without implicit padding: fields are ordered largest first and any
 * padding is an explicit `_pad` field. Addresses are 16 bytes in network byte order, IPv4
 * v4-mapped (::ffff:a.b.c.d); ports are in host byte order. */
#ifndef IRONPOST_PROCESS_MONITOR_H
#define IRONPOST_PROCESS_MONITOR_H

#include <linux/types.h>

/* `event_header.kind`. */
#define KIND_EXEC 0
#define KIND_EXIT 1
#define KIND_CONNECT 2
#define KIND_FILE_OPEN 3
#define KIND_COUNT 4

/* Indexes of the `counters` per-CPU array: three per kind, at kind * CNT_PER_KIND. */
#define CNT_EMITTED 0 /* submitted to the ring buffer */
#define CNT_RATE_LIMITED 1 /* suppressed by the kind's token bucket */
#define CNT_RINGBUF_FULL 2 /* lost: bpf_ringbuf_reserve failed */
#define CNT_PER_KIND 3
#define CNT_SLOTS (KIND_COUNT * CNT_PER_KIND)

#define COMM_LEN 16
/* bprm->filename of an exec, the resolved path of an opened file: longer ones are cut and
 * flagged. */
#define PATH_LEN 256
/* Bytes of the argument block (mm->arg_start..arg_end, NUL-separated) copied per exec. */
#define ARGS_LEN 512

/* Watched path prefixes for file events. */
#define MAX_PREFIXES 8
#define PREFIX_LEN 128

/* `exec_event.flags`, `file_open_event.flags`. */
#define FLAG_ARGS_TRUNCATED 0x1
#define FLAG_PATH_TRUNCATED 0x2
#define FLAG_ARGS_UNREADABLE 0x4

/* Token bucket unit: one event costs this many "nano-tokens", so that refill can be computed as
 * elapsed_ns * events_per_sec without a division. */
#define NANO_TOKENS_PER_EVENT 1000000000ULL

/* The single entry of the `config` array, written by userspace. */
struct monitor_config {
	__u64 event_rate_per_sec; /* token refill rate, per CPU and kind; 0 = no refill */
	__u64 event_burst; /* bucket capacity in events, per CPU and kind */
	__u64 refill_cap_ns; /* elapsed time after which the bucket is full again */
	__u32 prefix_count; /* entries [0, count) of `prefixes` are live */
	__u32 _pad;
};

/* One watched prefix: `len` bytes of `path`, which ends with '/' (userspace ensures it) so that
 * "/etc/" does not match "/etcetera". */
struct path_prefix {
	__u32 len;
	__u32 _pad;
	char path[PREFIX_LEN];
};

/* Per-CPU, per-kind token bucket state. */
struct rate_state {
	__u64 tokens; /* nano-tokens */
	__u64 last_ns; /* bpf_ktime_get_boot_ns() at the last event; 0 = never */
};

/* First bytes of every ring-buffer record. `pid` is the thread group id (what userspace calls
 * the pid), `tid` the thread; both as seen from the initial PID namespace. */
struct event_header {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME) */
	__u64 cgroup_id; /* bpf_get_current_cgroup_id(): the cgroup v2 directory's inode */
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 ppid; /* real_parent's thread group id */
	__u32 uid;
	__u32 gid;
	char comm[COMM_LEN];
};

struct exec_event {
	struct event_header h;
	__u64 start_ns; /* task->start_boottime */
	__u32 flags;
	__u32 filename_len; /* bytes of `filename` before its NUL */
	__u32 args_len; /* bytes of `args` copied: NUL-separated arguments */
	__u32 _pad;
	char filename[PATH_LEN];
	char args[ARGS_LEN];
};

struct exit_event {
	struct event_header h;
	__u32 exit_code; /* task->exit_code: the wait(2) status */
	__u32 _pad;
};

struct connect_event {
	struct event_header h;
	__u8 daddr[16];
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 dport;
	__u32 _pad;
};

struct file_open_event {
	struct event_header h;
	__u32 open_flags; /* file->f_flags */
	__u32 flags;
	__u32 path_len; /* bytes of `path` before its NUL */
	__u32 _pad;
	char path[PATH_LEN];
};

_Static_assert(sizeof(struct monitor_config) == 32, "monitor_config");
_Static_assert(sizeof(struct path_prefix) == 136, "path_prefix");
_Static_assert(sizeof(struct rate_state) == 16, "rate_state");
_Static_assert(sizeof(struct event_header) == 56, "event_header");
_Static_assert(sizeof(struct exec_event) == 848, "exec_event");
_Static_assert(sizeof(struct exit_event) == 64, "exit_event");
_Static_assert(sizeof(struct connect_event) == 80, "connect_event");
_Static_assert(sizeof(struct file_open_event) == 328, "file_open_event");

#endif
