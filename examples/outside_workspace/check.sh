#!/usr/bin/env bash
# examples/outside_workspace/check.sh: builds this workspace (which uses typed_channel from
# ../.. through deps.bzl, as a user's project would) with the same Bazel as the main workspace,
# then runs its producer and consumer over a named queue in a private temporary directory.
# Exit 0 when both worked. Run by .ci/run; a label of typed_channel that does not resolve from
# another repository fails the build here.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
bazel="${BAZEL:-bazel}"
dir=$(mktemp -d)
trap '"$bazel" shutdown >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

"$bazel" build --nosandbox_debug ${BAZEL_FLAGS:-} //app:producer //app:consumer
bin=bazel-bin  # the convenience symlink this build just made

export TYPED_CHANNEL_DIR="$dir/queues"
mkdir -m 0700 "$TYPED_CHANNEL_DIR"
"$bin/app/producer" orders 1000
"$bin/app/consumer" orders 1000
echo "outside_workspace: OK"
