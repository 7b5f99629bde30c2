# Message types of the examples, tests and benchmarks.
@0xd4c3a1f0b2e5a701;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("demo");

# A unit of work. The tutorial's Python queues carry strings and None; typed_channel carries
# structs, and the end-of-stream signal is a variant of the union (see docs/tutorial.md).
struct Job {
  id @0 :UInt64;
  producer @1 :Text;     # who made it ("包子", "骨头", or a pid)
  union {
    payload @2 :Text;    # the item itself
    endOfStream @3 :Void;  # the typed counterpart of the tutorial's `None`
  }
  data @4 :Data;         # optional bulk bytes (benchmarks, large-message tests)
}

# The tutorial's third program puts a list: [time, 'from earth', 'hello'].
struct Greeting {
  time @0 :Text;
  origin @1 :Text;
  text @2 :Text;
}

# Benchmark message: a u64 id and 48 bytes of data.
struct Small {
  id @0 :UInt64;
  data @1 :Data;
}

# Every kind of list, for the decoder's tests: lists of pointers, of structs with pointers, of
# bits, of zero-sized elements, nested, and empty.
struct Shapes {
  texts @0 :List(Text);
  jobs @1 :List(Job);
  flags @2 :List(Bool);
  voids @3 :List(Void);
  nested @4 :List(List(UInt32));
  none @5 :List(Greeting);
}
