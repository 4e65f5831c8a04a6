/* Compiled as strict C99: proves edge/plugin_abi.h is pure C, and reports the
 * C compiler's view of the ABI structs so the test can compare it with C++'s. */
#include <edge/plugin_abi.h>
#include <stddef.h>

size_t edge_test_c_sizeof_descriptor(void);
size_t edge_test_c_offsetof_name(void);
size_t edge_test_c_offsetof_reserved(void);
size_t edge_test_c_sizeof_host_api(void);
size_t edge_test_c_sizeof_option(void);
size_t edge_test_c_sizeof_option_value(void);

size_t edge_test_c_sizeof_descriptor(void) { return sizeof(edge_plugin_descriptor); }
size_t edge_test_c_offsetof_name(void) { return offsetof(edge_plugin_descriptor, name); }
size_t edge_test_c_offsetof_reserved(void) { return offsetof(edge_plugin_descriptor, reserved); }
size_t edge_test_c_sizeof_host_api(void) { return sizeof(edge_host_api); }
size_t edge_test_c_sizeof_option(void) { return sizeof(edge_plugin_option); }
size_t edge_test_c_sizeof_option_value(void) { return sizeof(edge_option_value); }
