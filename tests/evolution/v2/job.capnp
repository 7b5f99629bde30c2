# Version 2 of ../v1/job.capnp: same file and struct ids, fields added at the end, as Cap'n Proto
# schema evolution allows.
@0xe5a0c4d2b7f31a01;
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("evolution");

struct Order {
  id @0 :UInt64;
  item @1 :Text;
  quantity @2 :UInt32 = 1;
  notes @3 :List(Text);
}
