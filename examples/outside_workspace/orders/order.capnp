# This project's own message type, compiled with typed_channel's cc_capnp_library.
@0xa436de69f1028c8e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("shop");

struct Order {
  id @0 :UInt64;
  item @1 :Text;
  cents @2 :Int64;
  last @3 :Bool;  # the producer's final order
}
