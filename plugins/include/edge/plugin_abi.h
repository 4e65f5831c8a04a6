/* edge plugin ABI: the one C interface between the gateway (the host) and every
 * loadable plugin (processors in plugins/, sinks in storage-sinks/).
 *
 * Pure C99; also compiles as C++. Any change to this file is an ABI change:
 * bump EDGE_PLUGIN_ABI_MINOR for an addition at the end of a struct (or in a
 * reserved slot), EDGE_PLUGIN_ABI_MAJOR for anything else, and update the
 * hash in tests/plugins/abi_header_hash_test.cc. See docs/plugins.md.
 *
 * Shape
 *   A plugin is a shared object exporting exactly one symbol,
 *   edge_plugin_entry, which returns a pointer to a static, immutable
 *   edge_plugin_descriptor. The descriptor's first four fields never move
 *   (abi_major, abi_minor, struct_size, build_signature) so any host can read
 *   them and refuse a plugin it cannot run. Then come the name, version,
 *   kind, an option table (data, validated by the host) and the hooks.
 *
 *   Direction is in the name: edge_plugin_on_* are hooks the plugin
 *   implements and the host calls; edge_host_* are callbacks the host
 *   implements (in edge_host_api) and the plugin calls.
 *
 * Ownership and lifetime
 *   - The descriptor, its strings and its option table belong to the plugin
 *     and must stay valid and unchanged while the shared object is loaded.
 *   - Everything the host passes in (edge_plugin_config and what it points
 *     to, batches, events, errbuf) belongs to the host and is valid only for
 *     the duration of the hook call, unless documented otherwise below.
 *     Copy what you need to keep.
 *   - The edge_host_api table and the edge_host_ctx handle stay valid from
 *     edge_plugin_on_create until edge_plugin_on_destroy returns.
 *   - Strings cross the ABI as edge_str views (pointer + length, not
 *     necessarily NUL-terminated). A view the host returns points into host
 *     memory and is valid until that event is next modified, or the hook
 *     returns, whichever comes first. Views the plugin passes in are copied
 *     by the host before the callback returns.
 *   - errbuf: a host-owned buffer of errbuf_size bytes; on failure the plugin
 *     writes a NUL-terminated, human-readable reason (truncating if needed)
 *     that names the thing and the fix.
 *
 * Threading
 *   One instance is only ever called from one thread at a time (a gateway
 *   worker for processors, the sink's thread for sinks); different instances
 *   of the same plugin may run concurrently on different threads, so shared
 *   state inside a plugin needs its own locking. edge_host_log,
 *   edge_host_counter_add and edge_host_now_ns are thread-safe; the batch and
 *   event accessors may only be used during the hook call that received the
 *   batch, on that thread.
 *
 * Errors
 *   No exception, longjmp or other non-local exit may cross this ABI in
 *   either direction. C++ plugins catch everything at the hook boundary (the
 *   SDK in edge/plugin_sdk.hpp does this).
 */
#ifndef EDGE_PLUGIN_ABI_H
#define EDGE_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Versions */

#define EDGE_PLUGIN_ABI_MAJOR 1u /* incompatible change: host refuses other majors */
#define EDGE_PLUGIN_ABI_MINOR 0u /* additions only: host refuses minors newer than its own */

#define EDGE_PLUGIN_ENTRY_SYMBOL "edge_plugin_entry"

#if defined(_WIN32)
#define EDGE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define EDGE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------------------
 * Build signature: what must match between host and plugin beyond the ABI
 * version (nginx checks its modules the same way). One byte each, so it reads
 * the same on any host:
 *   [0] 'E' marker, [1] sizeof(void*), [2] sizeof(size_t), [3] sizeof(long),
 *   [4] sizeof(time_t), [5] sizeof(double), [6] sizeof(int),
 *   [7] byte order ('L' little, 'B' big), [8..15] zero. */

#define EDGE_PLUGIN_SIGNATURE_SIZE 16

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define EDGE_PLUGIN_BYTE_ORDER 'B'
#else
#define EDGE_PLUGIN_BYTE_ORDER 'L'
#endif

/* No casts: the values are constant and fit, so this is a valid initializer
 * in C and C++ alike (and stays clean under -Wold-style-cast). */
#define EDGE_PLUGIN_BUILD_SIGNATURE_INIT                                                           \
  {                                                                                                \
    'E', sizeof(void*), sizeof(size_t), sizeof(long), sizeof(time_t), sizeof(double), sizeof(int), \
        EDGE_PLUGIN_BYTE_ORDER, 0, 0, 0, 0, 0, 0, 0, 0                                             \
  }

/* ---------------------------------------------------------------------------
 * Status codes */

/* Hooks other than edge_plugin_on_write. */
#define EDGE_PLUGIN_OK 0
#define EDGE_PLUGIN_ERROR 1 /* reason in errbuf */

/* edge_plugin_on_write and a sink's edge_plugin_on_flush. The engine owns
 * retries and backoff; a sink never loops or sleeps on its own. */
#define EDGE_SINK_OK 0    /* the whole batch is durably committed */
#define EDGE_SINK_RETRY 1 /* nothing committed; the same batch may succeed later */
#define EDGE_SINK_ERROR 2 /* nothing committed; retrying as-is will not help (goes to the DLQ) */

/* edge_host_* callbacks that can fail. */
#define EDGE_HOST_OK 0
#define EDGE_HOST_NOT_FOUND 1 /* no such field */
#define EDGE_HOST_READ_ONLY 2 /* tenant, seq, or any change to a sink's batch */
#define EDGE_HOST_INVALID 3   /* bad argument (unknown attribute, severity out of 0..7, ...) */
#define EDGE_HOST_NO_MEMORY 4

/* ---------------------------------------------------------------------------
 * Plain data */

typedef struct edge_str {
  const char* data; /* may be NULL when len == 0; not necessarily NUL-terminated */
  size_t len;
} edge_str;

/* Field value types (the event model: string, int, float, bool). */
#define EDGE_VALUE_STRING 1
#define EDGE_VALUE_INT 2
#define EDGE_VALUE_DOUBLE 3
#define EDGE_VALUE_BOOL 4

typedef struct edge_value {
  uint32_t type;    /* EDGE_VALUE_* */
  uint32_t boolean; /* EDGE_VALUE_BOOL: 0 or 1 */
  edge_str string;  /* EDGE_VALUE_STRING */
  int64_t integer;  /* EDGE_VALUE_INT */
  double number;    /* EDGE_VALUE_DOUBLE */
} edge_value;

/* Event attributes that are strings. */
#define EDGE_ATTR_KIND 1
#define EDGE_ATTR_SOURCE 2
#define EDGE_ATTR_HOST 3
#define EDGE_ATTR_TENANT 4 /* read-only: set by the gateway from the agent's identity */
#define EDGE_ATTR_RAW 5    /* the original record */

/* Log levels for edge_host_log. */
#define EDGE_LOG_DEBUG 1
#define EDGE_LOG_INFO 2
#define EDGE_LOG_WARN 3
#define EDGE_LOG_ERROR 4

/* ---------------------------------------------------------------------------
 * Options: declared by the plugin as data, validated by the host against
 * the operator's configuration, and used to generate the configuration
 * reference. */

#define EDGE_OPT_STRING 1
#define EDGE_OPT_INT 2         /* 64-bit signed integer */
#define EDGE_OPT_BOOL 3        /* true/false, yes/no, on/off */
#define EDGE_OPT_DOUBLE 4      /* finite number */
#define EDGE_OPT_BYTES 5       /* byte size: 1048576, 64KiB, 10MiB, 500MB */
#define EDGE_OPT_DURATION 6    /* 250 (ms), 250ms, 5s, 2m, 1h, 1d */
#define EDGE_OPT_STRING_LIST 7 /* a YAML list of strings (or one string) */

#define EDGE_OPT_REQUIRED 1u /* edge_plugin_option.flags: must be configured; no default */

typedef struct edge_plugin_option {
  const char* name;          /* [a-z][a-z0-9_]*, unique within the plugin */
  uint32_t type;             /* EDGE_OPT_* */
  uint32_t flags;            /* EDGE_OPT_REQUIRED or 0 */
  const char* default_value; /* as the operator would write it, or NULL for none; a
                                STRING_LIST default is comma-separated */
  const char* help;          /* one line for the configuration reference */
  const void* reserved[2];   /* NULL */
} edge_plugin_option;

/* One validated option value, parallel to the descriptor's option table
 * (same order, same count). Host-owned, valid during edge_plugin_on_create /
 * edge_plugin_on_reload only. */
typedef struct edge_option_value {
  const char* name;   /* the option's name (NUL-terminated) */
  uint32_t type;      /* EDGE_OPT_* */
  uint32_t is_set;    /* 1: configured by the operator; 0: default or absent */
  uint32_t has_value; /* 0: neither configured nor defaulted (optional, no default) */
  uint32_t reserved0;
  edge_str text;        /* the value as text (STRING: the string itself) */
  int64_t integer;      /* INT; BOOL 0/1; BYTES byte count; DURATION milliseconds */
  double number;        /* DOUBLE (also set for INT) */
  const edge_str* list; /* STRING_LIST items */
  size_t list_len;
  const void* reserved[2];
} edge_option_value;

/* ---------------------------------------------------------------------------
 * Opaque host handles */

typedef struct edge_batch edge_batch;       /* a batch of events during one hook call */
typedef struct edge_event edge_event;       /* one event of that batch */
typedef struct edge_host_ctx edge_host_ctx; /* the host's side of one plugin instance */
typedef struct edge_counter edge_counter;   /* a metrics counter owned by the host */

/* Batch identity (sinks need it for idempotent writes on (agent_id, seq)).
 * The caller sets struct_size = sizeof(edge_batch_info); the host fills the
 * fields that fit. Views are valid during the hook call. */
typedef struct edge_batch_info {
  uint32_t struct_size;
  uint32_t reserved0;
  edge_str agent_id;
  uint64_t batch_id;
  int64_t received_ns; /* when the gateway decoded the batch */
  edge_str tenant;
} edge_batch_info;

/* ---------------------------------------------------------------------------
 * Host callback table. Grows only at its end; struct_size says how much of it
 * this host provides (a plugin built against a newer minor checks
 * struct_size before calling a newer entry). */

typedef struct edge_host_api {
  uint32_t struct_size;
  uint32_t abi_minor; /* EDGE_PLUGIN_ABI_MINOR of the host */

  /* --- ABI 1.0 --- */

  /* Batch. Indexes run 0..size-1 and include events emitted during this call
   * (appended at the end). Dropped events stay readable until the call returns. */
  size_t (*edge_host_batch_size)(const edge_batch* batch);
  /* NULL if index is out of range. */
  edge_event* (*edge_host_batch_event)(const edge_batch* batch, size_t index);
  void (*edge_host_batch_info)(const edge_batch* batch, edge_batch_info* info);
  /* Appends a new event: a copy of copy_from (fields, seq and tenant included)
   * or, when it is NULL, a blank event with ts = now, seq 0 and the batch's
   * tenant. Returns NULL on a read-only batch or when out of memory. The
   * handle is valid during this call; the new event reaches the next stage
   * when the hook returns. */
  edge_event* (*edge_host_batch_emit)(edge_batch* batch, const edge_event* copy_from);

  /* Event attributes. */
  edge_str (*edge_host_event_get_str)(const edge_event* event, int attr);
  int (*edge_host_event_set_str)(edge_event* event, int attr, edge_str value);
  /* Timestamps are ns since the Unix epoch; severity is RFC 5424 (0 emergency
   * .. 7 debug); seq is read-only. */
  int64_t (*edge_host_event_get_ts)(const edge_event* event);
  int (*edge_host_event_set_ts)(edge_event* event, int64_t ts_ns);
  int (*edge_host_event_get_severity)(const edge_event* event);
  int (*edge_host_event_set_severity)(edge_event* event, int severity);
  uint64_t (*edge_host_event_get_seq)(const edge_event* event);

  /* Typed fields. get/field_at fill *value with views into the event. */
  int (*edge_host_event_get_field)(const edge_event* event, edge_str key, edge_value* value);
  int (*edge_host_event_set_field)(edge_event* event, edge_str key, const edge_value* value);
  int (*edge_host_event_remove_field)(edge_event* event, edge_str key);
  size_t (*edge_host_event_field_count)(const edge_event* event);
  int (*edge_host_event_field_at)(const edge_event* event, size_t index, edge_str* key,
                                  edge_value* value);

  /* Drops the event from the batch when the hook returns (counted by the host). */
  int (*edge_host_event_drop)(edge_event* event);
  int (*edge_host_event_is_dropped)(const edge_event* event);

  /* Services. Thread-safe. */
  void (*edge_host_log)(edge_host_ctx* ctx, int level, edge_str message);
  /* name: [a-z_][a-z0-9_]*, exported as edge_plugin_<plugin>_<name>{instance="..."}.
   * Returns NULL for an invalid name. The counter belongs to the host and
   * stays valid until edge_plugin_on_destroy returns. */
  edge_counter* (*edge_host_counter_create)(edge_host_ctx* ctx, edge_str name, edge_str help);
  void (*edge_host_counter_add)(edge_counter* counter, uint64_t n);
  /* Current time in ns since the Unix epoch, from the host's clock (tests inject one). */
  int64_t (*edge_host_now_ns)(edge_host_ctx* ctx);
} edge_host_api;

/* ---------------------------------------------------------------------------
 * What the host passes to edge_plugin_on_create / edge_plugin_on_reload.
 * Host-owned; valid during that call only, except host and ctx (see top). */

typedef struct edge_plugin_config {
  uint32_t struct_size;
  uint32_t reserved0;
  const edge_host_api* host;
  edge_host_ctx* ctx;
  edge_str instance_name;           /* the operator's name for this instance */
  const edge_option_value* options; /* parallel to the descriptor's option table */
  size_t option_count;
} edge_plugin_config;

/* ---------------------------------------------------------------------------
 * Hooks the plugin implements. `instance` is the plugin's own pointer, set by
 * edge_plugin_on_create; the host never looks inside it. */

/* Creates an instance from validated options. On EDGE_PLUGIN_OK, *instance is
 * set (it may be NULL if the plugin keeps no state). */
typedef int (*edge_plugin_on_create_fn)(const edge_plugin_config* config, void** instance,
                                        char* errbuf, size_t errbuf_size);
/* Frees the instance. Called once, after the last other hook returned. */
typedef void (*edge_plugin_on_destroy_fn)(void* instance);
/* Processor: transforms the batch in place (set fields, drop, emit).
 * EDGE_PLUGIN_ERROR is counted and logged by the host; the batch continues
 * as the plugin left it. */
typedef int (*edge_plugin_on_process_fn)(void* instance, edge_batch* batch, char* errbuf,
                                         size_t errbuf_size);
/* Sink: writes the batch (read-only) and answers EDGE_SINK_*. */
typedef int (*edge_plugin_on_write_fn)(void* instance, const edge_batch* batch, char* errbuf,
                                       size_t errbuf_size);
/* Optional: applies new options in place (a hot reload). On error the instance
 * must keep running with its old options. If absent, the host creates a new
 * instance instead. */
typedef int (*edge_plugin_on_reload_fn)(void* instance, const edge_plugin_config* config,
                                        char* errbuf, size_t errbuf_size);
/* Optional: pushes out buffered state (sinks answer EDGE_SINK_*). */
typedef int (*edge_plugin_on_flush_fn)(void* instance, char* errbuf, size_t errbuf_size);

#define EDGE_PLUGIN_PROCESSOR 1
#define EDGE_PLUGIN_SINK 2

#define EDGE_PLUGIN_DESCRIPTOR_RESERVED 8

typedef struct edge_plugin_descriptor {
  /* --- never move: read by every host of every ABI version --- */
  uint32_t abi_major;   /* EDGE_PLUGIN_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor;   /* EDGE_PLUGIN_ABI_MINOR the plugin was built against */
  uint32_t struct_size; /* sizeof(edge_plugin_descriptor) in the plugin's build */
  uint8_t build_signature[EDGE_PLUGIN_SIGNATURE_SIZE]; /* EDGE_PLUGIN_BUILD_SIGNATURE_INIT */

  /* --- ABI 1.0 --- */
  const char* name;        /* [a-z][a-z0-9_]*, unique among loaded plugins */
  const char* version;     /* the plugin's own version, e.g. "1.2.0" */
  uint32_t kind;           /* EDGE_PLUGIN_PROCESSOR or EDGE_PLUGIN_SINK */
  uint32_t flags;          /* 0 */
  const char* description; /* one paragraph for the configuration reference */
  const edge_plugin_option* options;
  size_t option_count;

  edge_plugin_on_create_fn edge_plugin_on_create;   /* required */
  edge_plugin_on_destroy_fn edge_plugin_on_destroy; /* required */
  edge_plugin_on_process_fn edge_plugin_on_process; /* processors: required; sinks: NULL */
  edge_plugin_on_write_fn edge_plugin_on_write;     /* sinks: required; processors: NULL */
  edge_plugin_on_reload_fn edge_plugin_on_reload;   /* optional */
  edge_plugin_on_flush_fn edge_plugin_on_flush;     /* optional */

  /* Spare slots for later minors; NULL. */
  const void* reserved[EDGE_PLUGIN_DESCRIPTOR_RESERVED];
} edge_plugin_descriptor;

/* The one exported symbol. Returns the same static descriptor every time;
 * must not fail, allocate, or have side effects. */
typedef const edge_plugin_descriptor* (*edge_plugin_entry_fn)(void);
EDGE_PLUGIN_EXPORT const edge_plugin_descriptor* edge_plugin_entry(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EDGE_PLUGIN_ABI_H */
