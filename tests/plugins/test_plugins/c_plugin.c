/* A plugin written in plain C99 against edge/plugin_abi.h alone. Built once
 * as a working processor (test_c_tagger) that drives the host callback table
 * from C, and in deliberately broken variants, selected by TEST_VARIANT, that
 * the loader must refuse with an exact reason. */
#include <edge/plugin_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VARIANT_OK 0
#define VARIANT_ABI_MAJOR 1
#define VARIANT_ABI_MINOR 2
#define VARIANT_STRUCT_SIZE 3
#define VARIANT_SIGNATURE 4
#define VARIANT_NO_ENTRY 5
#define VARIANT_UNRESOLVED 6
#define VARIANT_BAD_OPTION_DEFAULT 7
#define VARIANT_DUPLICATE_OPTION 8
#define VARIANT_NO_PROCESS 9

#ifndef TEST_VARIANT
#define TEST_VARIANT VARIANT_OK
#endif
#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "test_c_tagger"
#endif

typedef struct tagger {
  const edge_host_api* host;
  edge_host_ctx* ctx;
  char* tag;
  int64_t max_severity;
  int emit_summary;
  edge_counter* seen;
} tagger;

static edge_str str(const char* text) {
  edge_str s;
  s.data = text;
  s.len = strlen(text);
  return s;
}

#if TEST_VARIANT == VARIANT_UNRESOLVED
/* Defined nowhere: dlopen(RTLD_NOW) must fail. */
extern int edge_test_symbol_that_does_not_exist(void);
#endif

static int on_create(const edge_plugin_config* config, void** instance, char* errbuf,
                     size_t errbuf_size) {
  size_t i;
  tagger* t;
#if TEST_VARIANT == VARIANT_UNRESOLVED
  if (edge_test_symbol_that_does_not_exist() != 0) return EDGE_PLUGIN_ERROR;
#endif
  t = (tagger*)calloc(1, sizeof(*t));
  if (t == NULL) {
    snprintf(errbuf, errbuf_size, "out of memory");
    return EDGE_PLUGIN_ERROR;
  }
  t->host = config->host;
  t->ctx = config->ctx;
  t->max_severity = 7;
  for (i = 0; i < config->option_count; ++i) {
    const edge_option_value* v = &config->options[i];
    if (strcmp(v->name, "tag") == 0) {
      t->tag = (char*)malloc(v->text.len + 1);
      if (t->tag == NULL) {
        free(t);
        snprintf(errbuf, errbuf_size, "out of memory");
        return EDGE_PLUGIN_ERROR;
      }
      if (v->text.len > 0) memcpy(t->tag, v->text.data, v->text.len);
      t->tag[v->text.len] = '\0';
    } else if (strcmp(v->name, "max_severity") == 0) {
      t->max_severity = v->integer;
    } else if (strcmp(v->name, "emit_summary") == 0) {
      t->emit_summary = v->integer != 0;
    }
  }
  if (t->tag != NULL && strcmp(t->tag, "refuse") == 0) {
    snprintf(errbuf, errbuf_size, "option tag: \"refuse\" is refused on purpose; pick another tag");
    free(t->tag);
    free(t);
    return EDGE_PLUGIN_ERROR;
  }
  t->seen = t->host->edge_host_counter_create(t->ctx, str("seen_total"), str("Events seen"));
  *instance = t;
  return EDGE_PLUGIN_OK;
}

static void on_destroy(void* instance) {
  tagger* t = (tagger*)instance;
  if (t == NULL) return;
  free(t->tag);
  free(t);
}

static int fail(char* errbuf, size_t errbuf_size, const char* message) {
  snprintf(errbuf, errbuf_size, "%s", message);
  return EDGE_PLUGIN_ERROR;
}

static int on_process(void* instance, edge_batch* batch, char* errbuf, size_t errbuf_size) {
  tagger* t = (tagger*)instance;
  const edge_host_api* h = t->host;
  size_t n = h->edge_host_batch_size(batch);
  size_t i;
  int64_t kept = 0;
  char line[64];
  for (i = 0; i < n; ++i) {
    edge_event* e = h->edge_host_batch_event(batch, i);
    edge_value v;
    edge_str kind = h->edge_host_event_get_str(e, EDGE_ATTR_KIND);
    if (kind.len == 4 && memcmp(kind.data, "fail", 4) == 0) {
      return fail(errbuf, errbuf_size, "event of kind fail: failing the batch on purpose");
    }
    memset(&v, 0, sizeof(v));
    v.type = EDGE_VALUE_STRING;
    v.string = str(t->tag);
    if (h->edge_host_event_set_field(e, str("tag"), &v) != EDGE_HOST_OK) {
      return fail(errbuf, errbuf_size, "cannot set field tag");
    }
    if (h->edge_host_event_set_str(e, EDGE_ATTR_TENANT, str("evil")) != EDGE_HOST_READ_ONLY) {
      return fail(errbuf, errbuf_size, "tenant was writable");
    }
    h->edge_host_event_remove_field(e, str("secret"));
    if (h->edge_host_event_get_severity(e) > t->max_severity) {
      h->edge_host_event_drop(e);
    } else {
      ++kept;
    }
  }
  h->edge_host_counter_add(t->seen, n);
  if (t->emit_summary) {
    edge_value count;
    edge_event* s = h->edge_host_batch_emit(batch, NULL);
    if (s == NULL) return fail(errbuf, errbuf_size, "emit refused");
    h->edge_host_event_set_str(s, EDGE_ATTR_KIND, str("summary"));
    memset(&count, 0, sizeof(count));
    count.type = EDGE_VALUE_INT;
    count.integer = kept;
    h->edge_host_event_set_field(s, str("kept"), &count);
  }
  snprintf(line, sizeof(line), "processed %lu events", (unsigned long)n);
  h->edge_host_log(t->ctx, EDGE_LOG_DEBUG, str(line));
  return EDGE_PLUGIN_OK;
}

static const edge_plugin_option options[] = {
    {"tag", EDGE_OPT_STRING, 0, "c", "Value of the tag field set on every event", {NULL, NULL}},
#if TEST_VARIANT == VARIANT_BAD_OPTION_DEFAULT
    {"max_severity",
     EDGE_OPT_INT,
     0,
     "lots",
     "Events above this severity are dropped",
     {NULL, NULL}},
#else
    {"max_severity", EDGE_OPT_INT, 0, "7", "Events above this severity are dropped", {NULL, NULL}},
#endif
#if TEST_VARIANT == VARIANT_DUPLICATE_OPTION
    {"tag", EDGE_OPT_BOOL, 0, "false", "Declared twice", {NULL, NULL}},
#endif
    {"emit_summary", EDGE_OPT_BOOL, 0, "false", "Emit one summary event per batch", {NULL, NULL}},
};

static const edge_plugin_descriptor descriptor = {
#if TEST_VARIANT == VARIANT_ABI_MAJOR
    EDGE_PLUGIN_ABI_MAJOR + 1,
#else
    EDGE_PLUGIN_ABI_MAJOR,
#endif
#if TEST_VARIANT == VARIANT_ABI_MINOR
    EDGE_PLUGIN_ABI_MINOR + 1,
#else
    EDGE_PLUGIN_ABI_MINOR,
#endif
#if TEST_VARIANT == VARIANT_STRUCT_SIZE
    16,
#else
    sizeof(edge_plugin_descriptor),
#endif
#if TEST_VARIANT == VARIANT_SIGNATURE
    /* A plugin built where time_t is 4 bytes (32-bit time). */
    {'E', sizeof(void*), sizeof(size_t), sizeof(long), 4, sizeof(double), sizeof(int),
     EDGE_PLUGIN_BYTE_ORDER, 0, 0, 0, 0, 0, 0, 0, 0},
#else
    EDGE_PLUGIN_BUILD_SIGNATURE_INIT,
#endif
    TEST_PLUGIN_NAME,
    "0.1.0",
    EDGE_PLUGIN_PROCESSOR,
    0,
    "A test processor written in C.",
    options,
    sizeof(options) / sizeof(options[0]),
    on_create,
    on_destroy,
#if TEST_VARIANT == VARIANT_NO_PROCESS
    NULL, /* a processor without its hook (on_process stays referenced below) */
#else
    on_process,
#endif
    NULL,
    NULL,
    NULL,
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

#if TEST_VARIANT == VARIANT_NO_PROCESS
/* Keeps on_process referenced so the variant compiles without warnings. */
EDGE_PLUGIN_EXPORT edge_plugin_on_process_fn edge_test_unused_process = on_process;
#endif

#if TEST_VARIANT == VARIANT_NO_ENTRY
/* A typo in the entry point's name: the loader must say what is missing. */
EDGE_PLUGIN_EXPORT const edge_plugin_descriptor* edge_plugin_entry_v1(void) { return &descriptor; }
#else
EDGE_PLUGIN_EXPORT const edge_plugin_descriptor* edge_plugin_entry(void) { return &descriptor; }
#endif
