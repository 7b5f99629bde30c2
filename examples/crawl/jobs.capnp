# examples/crawl/jobs.capnp
@0xf7923b720a6a5a5b;                  # a unique id: `capnp id` prints a new one
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("app");
struct Job { id @0 :UInt64; url @1 :Text; }
