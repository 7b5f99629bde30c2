"""typed_channel_dependencies(): every repository typed_channel needs, for any workspace.

In another workspace's WORKSPACE, after declaring typed_channel itself:

    local_repository(name = "typed_channel", path = "...")   # or http_archive(...)
    load("@typed_channel//:deps.bzl", "typed_channel_dependencies")
    typed_channel_dependencies()

and in its .bazelrc (the toolchain's default is -std=c++0x; without this the first error is
"'clamp' is not a member of 'std'"):

    build --cxxopt=-std=c++17 --host_cxxopt=-std=c++17

Then @typed_channel//channel and @typed_channel//schema:capnp.bzl work there. typed_channel's own
WORKSPACE calls the same macro. Bazel 4.2.3 offline (Debian's bazel-bootstrap) cannot download
anything, so every repository here is local; the Debian packages they point at are the ones
./bazelw installs (apt-get install bazel-bootstrap bazel-rules-java capnproto libcapnp-dev
libabsl-dev libgtest-dev libbenchmark-dev libboost-dev libzmq3-dev cppzmq-dev g++).

A repository the workspace already declared (by this name) is left alone, so a workspace can
bring its own.
"""

def _shim_impl(ctx):
    # A macro cannot point local_repository into @typed_channel (it does not know that
    # repository's path); a repository rule can find it through a label of one of its files.
    root = ctx.path(Label("//:WORKSPACE")).dirname
    shim = root.get_child("third_party").get_child(ctx.attr.shim)
    for child in shim.readdir():
        ctx.symlink(child, child.basename)

# A repository made of the files under typed_channel's third_party/<shim>/ (which has its own
# WORKSPACE, so it is no package of typed_channel).
_typed_channel_shim = repository_rule(
    implementation = _shim_impl,
    attrs = {"shim": attr.string(mandatory = True)},
    local = True,
)

def typed_channel_dependencies():
    """Declares rules_cc, rules_java, remote_coverage_tools and system (see above)."""
    existing = native.existing_rules()

    # Bazel's C++ toolchain autoconfiguration (and every BUILD file here) loads
    # @rules_cc//cc:defs.bzl. Bazel would fetch rules_cc from GitHub, and Debian's
    # bazel-rules-cc (0.0.4) is too new for Bazel 4.2.3: the shim re-exports the native rules,
    # which is all rules_cc did back then.
    if "rules_cc" not in existing:
        _typed_channel_shim(name = "rules_cc", shim = "rules_cc")

    # The registered JDK toolchains load @rules_java; Debian's bazel-rules-java 4.0.0 matches.
    if "rules_java" not in existing:
        native.local_repository(
            name = "rules_java",
            path = "/usr/share/bazel/rules/java",
        )

    # `bazel test` always depends on coverage tools (even without --coverage). The shim provides
    # empty filegroups; `bazel coverage` is therefore not available.
    if "remote_coverage_tools" not in existing:
        _typed_channel_shim(name = "remote_coverage_tools", shim = "remote_coverage_tools")

    # System libraries installed by apt: capnp/kj, Abseil, GoogleTest, benchmark, Boost, ZeroMQ.
    # Their headers are on the compiler's default include path, so the targets in
    # third_party/system.BUILD carry only link options.
    if "system" not in existing:
        native.new_local_repository(
            name = "system",
            build_file = str(Label("//third_party:system.BUILD")),
            path = "/usr",
        )
