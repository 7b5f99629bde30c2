# Message types of builder_test and builder_compile_test: a Task, a Result of another shape, and
# a Twin with exactly Task's shape (what a size check cannot tell apart).
@0x8fb2834215cf9e84;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("buildertest");

struct Task {
  id @0 :UInt64;
  name @1 :Text;
}

struct Result {
  id @0 :UInt64;
  score @1 :Float64;
  detail @2 :Text;
  tags @3 :List(Text);
}

struct Twin {
  count @0 :Int64;
  label @1 :Text;
}
