// Compiled by process_compile_test (see internal/testing/compile_test.bzl): as is it must
// compile; with any one WRONG_* macro defined it must not, and the error must be the
// static_assert that names what is wrong with the target.
#include <memory>
#include <string>

#include "channel/process.h"

int ReturnsCode() { return 3; }

void Targets() {
  channel::Process returns_int([] { return 0; });
  channel::Process returns_void([] {});
  channel::Process function(ReturnsCode);
  channel::Process std_function(std::function<int()>([] { return 1; }));
#ifdef WRONG_ARGUMENTS
  channel::Process takes_an_argument([](int code) { return code; });
#endif
#ifdef WRONG_RESULT
  channel::Process returns_a_string([] { return std::string("done"); });
#endif
#ifdef WRONG_MOVE_ONLY
  channel::Process move_only([owned = std::make_unique<int>(1)] { return *owned; });
#endif
}
