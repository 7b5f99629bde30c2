# Message types of //examples:demo: a worker pool that counts primes. The tutorial examples use
# //schema:demo.capnp; this file shows that a program defines its own types the same way.
@0xa24d48d5a906ad5f;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("primes");

# A task: count the primes in [begin, end).
struct Range {
  id @0 :UInt32;
  begin @1 :UInt64;
  end @2 :UInt64;
}

# A worker's answer to one Range.
struct Count {
  rangeId @0 :UInt32;
  worker @1 :Int32;      # pid of the worker process
  primes @2 :UInt64;
  cpuMicros @3 :Int64;   # CPU time spent counting
}
