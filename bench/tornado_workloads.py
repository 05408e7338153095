"""The workloads of shared/WORKLOADS.md on Python Tornado 6, for side-by-side ratios.

`--one WORKLOAD --ops N` makes one run and prints `WALL_NS CPU_NS` per operation (for
idle-memory, bytes per suspended coroutine); the Rust harness runs it as one more side,
interleaved with ioloop's and tokio's runs. `--echo-server PORT` serves the echo
workload until killed. Run through bench/compare.sh, which installs Tornado into a
throwaway virtualenv and points the harness at it.
"""

import argparse
import time
import warnings

from tornado import gen
from tornado.concurrent import Future
from tornado.ioloop import IOLoop


# Tornado 6 deprecates make_current; the workloads use it so that coroutines created
# before start() find this loop, as ioloop's do.
warnings.simplefilter("ignore", DeprecationWarning)


def fresh_loop():
    loop = IOLoop()
    loop.make_current()
    return loop


def callbacks(ops):
    loop = fresh_loop()
    count = [0]

    def bump():
        count[0] += 1
        if count[0] == ops:
            loop.stop()

    # Queued from inside the running loop, as ioloop's and tokio's are: queued before
    # start(), each add_callback goes through call_soon_threadsafe and a syscall.
    def queue_all():
        for _ in range(ops):
            loop.add_callback(bump)

    loop.add_callback(queue_all)
    loop.start()
    loop.close()


def chain(ops):
    loop = fresh_loop()

    def hop(left):
        if left == 0:
            loop.stop()
        else:
            loop.add_callback(hop, left - 1)

    loop.add_callback(hop, ops - 1)
    loop.start()
    loop.close()


def spread(ops):
    # The same xorshift sequence as benches/src/tokio_side.rs::spread.
    x = 0x2545F4914F6CDD1D
    mask = (1 << 64) - 1
    out = []
    for _ in range(ops):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        out.append(x % 100_000_000)
    return out


def timers(ops):
    loop = fresh_loop()
    live = ops // 2
    fired = [0]

    def fire():
        fired[0] += 1
        if fired[0] == live:
            loop.stop()

    base = loop.time()
    for i, offset in enumerate(spread(ops)):
        handle = loop.call_at(base + offset / 1e9, fire)
        if i % 2 == 1:
            loop.remove_timeout(handle)
    loop.start()
    loop.close()


def resolved_later(loop, value):
    """A future that a callback resolves on the next loop turn."""
    future = Future()
    loop.add_callback(future.set_result, value)
    return future


def yields(ops):
    coroutines = 10_000
    rounds = ops // coroutines
    loop = fresh_loop()

    @gen.coroutine
    def worker():
        total = 0
        for i in range(rounds):
            total += yield resolved_later(loop, i)
        return total

    @gen.coroutine
    def main():
        sums = yield [worker() for _ in range(coroutines)]
        assert sum(sums) == coroutines * rounds * (rounds - 1) // 2

    loop.run_sync(main)
    loop.close()


def gather(ops):
    width = 1_000
    rounds = ops // width
    loop = fresh_loop()

    @gen.coroutine
    def main():
        total = 0
        for _ in range(rounds):
            values = yield gen.multi([resolved_later(loop, i) for i in range(width)])
            total += sum(values)
        assert total == rounds * width * (width - 1) // 2

    loop.run_sync(main)
    loop.close()


def queue(ops):
    from tornado.queues import Queue

    loop = fresh_loop()
    q = Queue(maxsize=1)

    @gen.coroutine
    def producer():
        for i in range(ops):
            yield q.put(i)

    @gen.coroutine
    def consumer():
        total = 0
        for _ in range(ops):
            total += yield q.get()
        return total

    @gen.coroutine
    def main():
        _, total = yield [producer(), consumer()]
        assert total == ops * (ops - 1) // 2

    loop.run_sync(main)
    loop.close()


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def idle_memory(count=100_000):
    """Bytes of resident memory per coroutine suspended on an unresolved future."""
    loop = fresh_loop()

    @gen.coroutine
    def suspended(future):
        value = yield future
        return value

    pending = [Future() for _ in range(count)]
    before = rss_bytes()
    coroutines = [suspended(f) for f in pending]
    after = rss_bytes()
    assert not any(c.done() for c in coroutines)
    loop.close(all_fds=True)
    return (after - before) / count


def echo_server(port, any_size):
    """Echoes 64-byte messages, or with any_size whatever came (up to 64 KiB), as the
    idle-connections workload's servers do."""
    import resource

    from tornado.iostream import StreamClosedError
    from tornado.netutil import bind_sockets
    from tornado.tcpserver import TCPServer

    # The idle-connections workload opens 10,000 connections.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    class Echo(TCPServer):
        async def handle_stream(self, stream, address):
            try:
                while True:
                    if any_size:
                        data = await stream.read_bytes(64 * 1024, partial=True)
                    else:
                        data = await stream.read_bytes(64)
                    await stream.write(data)
            except StreamClosedError:
                pass

    loop = fresh_loop()
    server = Echo()
    sockets = bind_sockets(port, "127.0.0.1", backlog=4096)
    server.add_sockets(sockets)
    print(f"port {sockets[0].getsockname()[1]}", flush=True)
    loop.start()


WORKLOADS = {
    "callbacks": callbacks,
    "chain": chain,
    "timers": timers,
    "yields": yields,
    "gather": gather,
    "queue": queue,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", metavar="WORKLOAD", choices=list(WORKLOADS) + ["idle-memory"])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--echo-server", type=int, metavar="PORT")
    parser.add_argument("--any-size", action="store_true")
    args = parser.parse_args()
    if args.echo_server is not None:
        echo_server(args.echo_server, args.any_size)
    elif args.one == "idle-memory":
        print(idle_memory(args.ops))
    elif args.one is not None:
        began, cpu_began = time.perf_counter_ns(), time.thread_time_ns()
        WORKLOADS[args.one](args.ops)
        wall = (time.perf_counter_ns() - began) / args.ops
        cpu = (time.thread_time_ns() - cpu_began) / args.ops
        print(f"{wall} {cpu}")
    else:
        parser.error("give --one WORKLOAD or --echo-server PORT")


if __name__ == "__main__":
    main()
