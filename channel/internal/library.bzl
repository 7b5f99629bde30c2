"""channel_cc_library: a library of typed_channel, declared twice.

    load("//channel/internal:library.bzl", "channel_cc_library")

    channel_cc_library(
        name = "accounts",
        srcs = ["accounts.cc"],
        hdrs = ["accounts.h"],
        deps = [":shared_state", "//channel/internal/testing:fault_injection", "@system//:absl"],
    )

declares `accounts` and `accounts_fault_injection`: the same sources built with
TYPED_CHANNEL_FAULT_INJECTION (the fault points of internal/testing/fault_injection.h armed),
test-only, depending on the `_fault_injection` twin of each of its typed_channel deps. A program
links one world or the other, never both (they define the same symbols):
//channel:channel or //channel:channel_fault_injection.

Deps inside typed_channel are the labels starting with ":" or "//channel"; they must all be
channel_cc_library targets. Other deps (@system//:..., //schema:...) are shared by both worlds.
"""

FAULT_INJECTION_SUFFIX = "_fault_injection"

def _fault_injection_twin(dep):
    if not (dep.startswith(":") or dep.startswith("//channel")):
        return dep
    if ":" in dep:
        return dep + FAULT_INJECTION_SUFFIX
    return "%s:%s%s" % (dep, dep.rsplit("/", 1)[-1], FAULT_INJECTION_SUFFIX)  # "//a/b" -> "//a/b:b"

def channel_cc_library(
        name,
        deps = [],
        defines = [],
        visibility = None,
        fault_injection_visibility = None,
        **kwargs):
    """A cc_library `name` and its fault-injection twin `name`_fault_injection.

    Args:
      name: the library.
      deps: as for cc_library; typed_channel deps are swapped for their twins in the twin.
      defines: as for cc_library; the twin adds TYPED_CHANNEL_FAULT_INJECTION.
      visibility: of the library, and of the twin unless fault_injection_visibility is given.
      fault_injection_visibility: of the twin, when it differs.
      **kwargs: passed to both cc_library rules (srcs, hdrs, linkopts, ...).
    """
    native.cc_library(name = name, deps = deps, defines = defines, visibility = visibility, **kwargs)
    native.cc_library(
        name = name + FAULT_INJECTION_SUFFIX,
        deps = [_fault_injection_twin(d) for d in deps],
        defines = defines + ["TYPED_CHANNEL_FAULT_INJECTION"],
        testonly = True,
        visibility = fault_injection_visibility or visibility,
        **kwargs
    )
