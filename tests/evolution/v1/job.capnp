# Version 1 of an evolving message type (see ../peer.cc).
@0xe5a0c4d2b7f31a01;
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("evolution");

struct Order {
  id @0 :UInt64;
  item @1 :Text;
}
