#!/usr/bin/env python3
"""CPython baseline for //bench:channel_bench: the scenarios on multiprocessing.Queue /
JoinableQueue (fork start method), the way a Python program would write them.

    cpython_baseline.py S1|S2|S3|S4 --messages N --payload BYTES --maxsize M
                        [--warmup W] [--producers P] [--consumers C] [--fresh 0|1]
                        [--client-cpu N --server-cpu M]

A message is the tuple (id, data) with `data` a bytes object of --payload bytes: the Python
counterpart of demo::Small. With --fresh 1 (S1, S2) the producer makes `data` anew for every
message, as bench/payload.h describes (every 8-byte word is id ^ PATTERN, little-endian), and
the consumer reads every byte into a checksum; otherwise one `data` is sent with every id.
Every process waits at a barrier once started; the clock starts when the main process passes
it. The result is one line on stdout:

    RESULT {"ok": true, "value": ..., "cpu_s": ...}                    S1, S4: msg/s; S2: GB/s
    RESULT {"ok": true, "p50_us": ..., "p99_us": ..., "cpu_s": ...}    S3
    RESULT {"ok": false, "error": "..."}                               a check failed

cpu_s: CPU time (user + sys) of every process of the run, each from the barrier to the end of
its work. Checks: S1/S2 ids arrive complete and in order (and checksums match), S3 each reply
carries its request's id, S4 every id is received exactly once (per-consumer tallies, summed by
the main process).
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import queue
import resource
import sys
import time

CTX = mp.get_context("fork")
PATTERN = 0x9E3779B97F4A7C15  # bench/payload.h's kPayloadPattern
MASK = (1 << 64) - 1


def make_payload(size):
    return bytes((i * 7 + 1) & 0xFF for i in range(size))


def fresh_payload(ident, size):
    word = (ident ^ PATTERN).to_bytes(8, "little")
    return word * (size // 8) + word[:size % 8]


def checksum(data):
    whole = len(data) // 8 * 8
    return (sum(memoryview(data)[:whole].cast("Q")) + sum(data[whole:])) & MASK


def expected_checksum(ident, size):
    word = (ident ^ PATTERN).to_bytes(8, "little")
    return (int.from_bytes(word, "little") * (size // 8) + sum(word[:size % 8])) & MASK


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def fail(message):
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def result(**fields):
    print("RESULT " + json.dumps(fields), flush=True)


# ---- S1 / S2: one producer, one consumer ---------------------------------------------------

def one_to_one_producer(q, n, size, fresh, barrier, cpu):
    data = make_payload(size)
    barrier.wait()
    cpu0 = cpu_seconds()
    if fresh:
        for i in range(n):
            q.put((i, fresh_payload(i, size)))
    else:
        for i in range(n):
            q.put((i, data))
    q.close()
    q.join_thread()  # the feeder thread has written everything
    cpu[0] = cpu_seconds() - cpu0


def one_to_one_consumer(q, n, size, fresh, barrier, end_ns, cpu):
    barrier.wait()
    cpu0 = cpu_seconds()
    for i in range(n):
        ident, data = q.get()
        if ident != i or len(data) != size:
            fail(f"expected message {i} of {size} bytes, got {ident} of {len(data)}")
        if fresh and checksum(data) != expected_checksum(ident, size):
            fail(f"message {ident}: payload checksum mismatch")
    end_ns.value = time.monotonic_ns()
    cpu[1] = cpu_seconds() - cpu0


def run_one_to_one(args):
    q = CTX.Queue(maxsize=args.maxsize)
    barrier = CTX.Barrier(3)
    end_ns = CTX.Value("q", 0, lock=False)
    cpu = CTX.Array("d", 2, lock=False)
    consumer = CTX.Process(target=one_to_one_consumer,
                           args=(q, args.messages, args.payload, args.fresh, barrier, end_ns, cpu))
    producer = CTX.Process(target=one_to_one_producer,
                           args=(q, args.messages, args.payload, args.fresh, barrier, cpu))
    consumer.start()
    producer.start()
    barrier.wait()
    cpu0 = cpu_seconds()
    start = time.monotonic_ns()
    producer.join()
    consumer.join()
    if producer.exitcode != 0 or consumer.exitcode != 0:
        return result(ok=False, error=f"exit codes {producer.exitcode}, {consumer.exitcode}")
    seconds = (end_ns.value - start) / 1e9
    cpu_s = sum(cpu) + cpu_seconds() - cpu0
    if args.scenario == "S2":
        return result(ok=True, value=args.messages * args.payload / seconds / 1e9, cpu_s=cpu_s)
    return result(ok=True, value=args.messages / seconds, cpu_s=cpu_s)


# ---- S3: ping-pong over two queues ---------------------------------------------------------

def pin(cpu):
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})


def ping_server(requests, replies, total, cpu, barrier, out):
    pin(cpu)
    barrier.wait()
    cpu0 = cpu_seconds()
    for _ in range(total):
        replies.put(requests.get())
    replies.close()
    replies.join_thread()
    out[3] = cpu_seconds() - cpu0


def ping_client(requests, replies, total, warmup, size, cpu, barrier, out):
    pin(cpu)
    data = make_payload(size)
    rtts = []
    barrier.wait()
    cpu0 = cpu_seconds()
    for i in range(total):
        t0 = time.perf_counter_ns()
        requests.put((i, data))
        ident, reply = replies.get()
        t1 = time.perf_counter_ns()
        if ident != i or len(reply) != size:
            fail(f"reply to {i} carries id {ident} ({len(reply)} bytes)")
        if i >= warmup:
            rtts.append((t1 - t0) / 1e3)
    out[2] = cpu_seconds() - cpu0
    rtts.sort()
    for slot, p in enumerate((50, 99)):
        rank = max(1, math.ceil(p / 100 * len(rtts)))
        out[slot] = rtts[min(rank, len(rtts)) - 1]


def run_ping_pong(args):
    requests = CTX.Queue(maxsize=args.maxsize)
    replies = CTX.Queue(maxsize=args.maxsize)
    barrier = CTX.Barrier(3)
    out = CTX.Array("d", 4, lock=False)  # p50, p99, client CPU, server CPU
    total = args.warmup + args.messages
    server = CTX.Process(target=ping_server,
                         args=(requests, replies, total, args.server_cpu, barrier, out))
    client = CTX.Process(target=ping_client,
                         args=(requests, replies, total, args.warmup, args.payload,
                               args.client_cpu, barrier, out))
    server.start()
    client.start()
    barrier.wait()
    cpu0 = cpu_seconds()
    client.join()
    server.join()
    if client.exitcode != 0 or server.exitcode != 0:
        return result(ok=False, error=f"exit codes {client.exitcode}, {server.exitcode}")
    cpu_s = out[2] + out[3] + cpu_seconds() - cpu0
    return result(ok=True, p50_us=out[0], p99_us=out[1], cpu_s=cpu_s)


# ---- S4: producers -> consumers on a JoinableQueue -----------------------------------------

def fan_producer(q, first, end, size, barrier, cpu, slot):
    data = make_payload(size)
    barrier.wait()
    cpu0 = cpu_seconds()
    for i in range(first, end):
        q.put((i, data))
    q.close()
    q.join_thread()
    cpu[slot] = cpu_seconds() - cpu0


def fan_consumer(q, size, barrier, stop, seen, cpu, slot):
    barrier.wait()
    cpu0 = cpu_seconds()
    while not stop.value:
        try:
            ident, data = q.get(timeout=0.05)
        except queue.Empty:
            continue
        if len(data) != size:
            fail(f"message {ident} has {len(data)} bytes")
        seen[ident] += 1
        q.task_done()
    cpu[slot] = cpu_seconds() - cpu0


def run_fan_in_out(args):
    n = args.messages
    q = CTX.JoinableQueue(maxsize=args.maxsize)
    barrier = CTX.Barrier(args.producers + args.consumers + 1)
    stop = CTX.Value("b", 0, lock=False)
    seen = [CTX.Array("B", n, lock=False) for _ in range(args.consumers)]
    cpu = CTX.Array("d", args.consumers + args.producers, lock=False)
    consumers = [CTX.Process(target=fan_consumer,
                             args=(q, args.payload, barrier, stop, seen[c], cpu, c))
                 for c in range(args.consumers)]
    producers = [CTX.Process(target=fan_producer,
                             args=(q, n * p // args.producers, n * (p + 1) // args.producers,
                                   args.payload, barrier, cpu, args.consumers + p))
                 for p in range(args.producers)]
    for proc in consumers + producers:
        proc.start()
    barrier.wait()
    cpu0 = cpu_seconds()
    start = time.monotonic_ns()
    for proc in producers:
        proc.join()
    q.join()
    end = time.monotonic_ns()
    stop.value = 1
    for proc in consumers:
        proc.join()
    cpu_s = sum(cpu) + cpu_seconds() - cpu0
    codes = [proc.exitcode for proc in producers + consumers]
    if any(codes):
        return result(ok=False, error=f"exit codes {codes}")
    missing = duplicated = 0
    for i in range(n):
        count = sum(s[i] for s in seen)
        missing += count == 0
        duplicated += count > 1
    if missing or duplicated:
        return result(ok=False, error=f"{missing} ids never received, {duplicated} more than once")
    return result(ok=True, value=n / ((end - start) / 1e9), cpu_s=cpu_s)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["S1", "S2", "S3", "S4"])
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--payload", type=int, required=True)
    parser.add_argument("--maxsize", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--fresh", type=int, default=0, help="S1/S2: make every message anew")
    parser.add_argument("--client-cpu", type=int, default=-1, help="S3: pin the client")
    parser.add_argument("--server-cpu", type=int, default=-1, help="S3: pin the server")
    args = parser.parse_args()
    {"S1": run_one_to_one, "S2": run_one_to_one, "S3": run_ping_pong,
     "S4": run_fan_in_out}[args.scenario](args)


if __name__ == "__main__":
    main()
