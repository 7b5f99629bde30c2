"""cc_compile_test: proves that code compiles, and that other code does not.

    cc_compile_test(
        name = "builder_compile_test",
        snippet = "builder_compile_snippet.cc",
        deps = [":channel", ":builder_test_capnp"],
        must_fail = {"WRONG_PUT": "cannot be put into a queue of another type"},
    )

runs the C++ compiler (g++, C++17, as .bazelrc builds) on `snippet` once as is, which must
compile, and once per key of `must_fail` with that macro defined, which must fail with a
diagnostic containing the value. A case that compiles, or fails for another reason, fails the
test, so it cannot pass vacuously: the positive compile proves the snippet and the headers are
sound, and each negative one that it is the check under test that refuses.
"""

def _headers_impl(ctx):
    headers = depset(transitive = [
        d[CcInfo].compilation_context.headers
        for d in ctx.attr.deps
    ])
    return [DefaultInfo(runfiles = ctx.runfiles(transitive_files = headers))]

# Every header of `deps` (generated ones included), as runfiles at their workspace paths.
_cc_headers = rule(
    implementation = _headers_impl,
    attrs = {"deps": attr.label_list(providers = [CcInfo])},
)

def cc_compile_test(name, snippet, deps, must_fail, **kwargs):
    """An sh_test compiling `snippet` against the headers of `deps` (see above).

    Args:
      name: the test.
      snippet: the C++ file to compile.
      deps: cc_library targets whose headers the snippet includes.
      must_fail: {macro: a diagnostic (no single quote) that -Dmacro must produce}.
      **kwargs: passed to the sh_test (size, tags, ...).
    """
    _cc_headers(name = name + "_headers", deps = deps, testonly = True)
    native.sh_test(
        name = name,
        srcs = [Label("//channel/internal/testing:compile_test.sh")],
        # Bazel splits args like a shell: quote each case (its diagnostic has spaces).
        args = ["$(location %s)" % snippet] +
               ["'%s=%s'" % (k, v) for k, v in sorted(must_fail.items())],
        data = [snippet, ":" + name + "_headers"],
        **kwargs
    )
