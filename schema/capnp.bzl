"""cc_capnp_library: compile Cap'n Proto schemas into a C++ cc_library.

    load("//schema:capnp.bzl", "cc_capnp_library")

    cc_capnp_library(
        name = "job_capnp",
        srcs = ["job.capnp"],          # this package's .capnp files
        deps = ["//schema:common_capnp"],  # other cc_capnp_library targets it imports
    )

C++ code then does `#include "<package>/job.capnp.h"` (path from the workspace root, e.g.
"tests/evolution/v1/job.capnp.h") and depends on ":job_capnp"; capnp/kj come along.

Schemas may import other workspace schemas by absolute path from the workspace root
(`using import "/schema/common.capnp"`), relatively (`import "common.capnp"`), and the
system ones (`import "/capnp/c++.capnp"`, from /usr/include). An imported workspace schema
must belong to this target or to one in `deps`: the genrule is sandboxed and sees only those.
"""

_SRCS_SUFFIX = "_capnp_srcs"

def _srcs_label(dep):
    """The filegroup of .capnp files that cc_capnp_library `dep` declares."""
    if ":" in dep:
        return dep + _SRCS_SUFFIX
    return "%s:%s%s" % (dep, dep.rsplit("/", 1)[-1], _SRCS_SUFFIX)  # "//a/b" -> "//a/b:b"

def cc_capnp_library(name, srcs, deps = [], visibility = None, **kwargs):
    """Generates <src>.h/.c++ for each .capnp in srcs with `capnp compile -oc++`.

    Args:
      name: the cc_library to create (also `<name>_capnp_srcs`, `<name>_gen`).
      srcs: .capnp files of this package.
      deps: other cc_capnp_library targets whose schemas srcs import.
      visibility: for the cc_library and the filegroup of schemas.
      **kwargs: passed to the cc_library (e.g. testonly, tags).
    """
    # The schemas of this target and, transitively, of its deps: what capnp may import.
    native.filegroup(
        name = name + _SRCS_SUFFIX,
        srcs = srcs + [_srcs_label(d) for d in deps],
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

    hdrs = [s + ".h" for s in srcs]
    cc_srcs = [s + ".c++" for s in srcs]  # Bazel accepts the .c++ extension as C++ source.
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [_srcs_label(d) for d in deps],
        outs = hdrs + cc_srcs,
        # -I. : the execroot, so `import "/pkg/x.capnp"` finds workspace schemas; -I$(GENDIR)
        # the same for generated ones; /usr/include (for /capnp/c++.capnp) is capnp's default.
        # No --src-prefix: it would also become the root for relative imports ("../x.capnp"
        # fails). Instead outputs go under the bin root at their workspace-relative path,
        # which is exactly where Bazel expects this package's outs.
        # Then: capnp writes imports of workspace schemas as `#include <pkg/x.capnp.h>`, but
        # Bazel serves generated headers through -iquote paths only; quoting them lets the
        # usual "pkg/x.capnp.h" lookup find them (and <capnp/c++.capnp.h> still falls back
        # to /usr/include). Relative imports already come out as "../x.capnp.h".
        cmd = ("capnp compile -I. -I$(GENDIR) -oc++:$(GENDIR) %s && " +
               "sed -i -e 's|^#include <\\(.*\\.capnp\\.h\\)>$$|#include \"\\1\"|' %s") % (
            " ".join(["$(location %s)" % s for s in srcs]),
            " ".join(["$(location %s)" % h for h in hdrs]),
        ),
        message = "capnp compile %s" % name,
        testonly = kwargs.get("testonly", False),
        tags = kwargs.get("tags", []),
    )

    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        deps = deps + ["@system//:capnp"],
        visibility = visibility,
        **kwargs
    )
