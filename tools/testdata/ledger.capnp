# A message type channelctl does not have compiled in: channelctl_test peeks at a queue of it
# with and without --schema.
@0xe3b1c2d4a5f60789;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ledger");

struct Entry {
  account @0 :Text;
  cents @1 :Int64;
}
