"""CPython reference rows for the stdrpc benchmark suite (run by the suite).

    python bench.py rtt N        multiprocessing.connection round trip of a
                                 15-byte message, Client <-> Listener in two
                                 processes: prints microseconds per round trip
    python bench.py proxy N      BaseManager: one shared object, its method
                                 called over a persistent proxy connection
    python bench.py percall N    BaseManager: the pattern of Python's
                                 BaseManager example, a registered function
                                 called through the manager each time (create
                                 + incref + decref connections, plus the
                                 proxied `.conjugate()` that reads the value)
    python bench.py percall N PORT   the same pattern against a server already
                                 listening on 127.0.0.1:PORT (a stdrpc server)
"""

import subprocess
import sys
import time
from multiprocessing.connection import Client, Listener
from multiprocessing.managers import BaseManager

KEY = b"stdrpc-bench"


class Calc:
    def add(self, a, b):
        return a + b


_calc = Calc()


def get_calc():
    return _calc


def add(a, b):
    return a + b


class Manager(BaseManager):
    pass


def listener():
    with Listener(("127.0.0.1", 0), authkey=KEY) as lst:
        print(lst.address[1], flush=True)
        with lst.accept() as conn:
            try:
                while True:
                    conn.send_bytes(conn.recv_bytes())
            except EOFError:
                pass


def manager_server():
    Manager.register("get_calc", callable=get_calc)
    Manager.register("add", callable=add)
    m = Manager(address=("127.0.0.1", 0), authkey=KEY)
    server = m.get_server()
    print(server.address[1], flush=True)
    server.serve_forever()


def spawn(mode):
    p = subprocess.Popen([sys.executable, __file__, mode], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    return p, ("127.0.0.1", port)


def stop(p):
    """Ends a server child and reaps it, so that its CPU time is counted as
    the bench's own (cutime), not as other processes' (quiet.rs)."""
    p.kill()
    p.wait()


def rtt(n):
    p, addr = spawn("listener")
    try:
        conn = Client(addr, authkey=KEY)
        msg = b"0123456789abcde"
        for _ in range(max(n // 10, 1)):
            conn.send_bytes(msg)
            conn.recv_bytes()
        t = time.perf_counter()
        for _ in range(n):
            conn.send_bytes(msg)
            if conn.recv_bytes() != msg:
                raise SystemExit("bad echo")
        dt = time.perf_counter() - t
        conn.close()
        p.wait(timeout=10)
    finally:
        stop(p)
    return dt / n


def proxy(n):
    p, addr = spawn("manager")
    try:
        Manager.register("get_calc")
        m = Manager(address=addr, authkey=KEY)
        m.connect()
        calc = m.get_calc()
        for i in range(max(n // 10, 1)):
            calc.add(i, 1)
        t = time.perf_counter()
        for i in range(n):
            if calc.add(i, 1) != i + 1:
                raise SystemExit("bad sum")
        dt = time.perf_counter() - t
        del calc
    finally:
        stop(p)
    return dt / n


def percall(n, port=None):
    if port is None:
        p, addr = spawn("manager")
    else:
        p, addr = None, ("127.0.0.1", port)
    try:
        Manager.register("add")
        m = Manager(address=addr, authkey=KEY)
        m.connect()
        m.add(0, 1).conjugate()
        t = time.perf_counter()
        for i in range(n):
            if m.add(i, 1).conjugate() != i + 1:
                raise SystemExit("bad sum")
        dt = time.perf_counter() - t
    finally:
        if p is not None:
            stop(p)
    return dt / n


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "listener":
        listener()
    elif mode == "manager":
        manager_server()
    else:
        n = int(sys.argv[2])
        if mode == "percall" and len(sys.argv) > 3:
            secs = percall(n, int(sys.argv[3]))
        else:
            secs = {"rtt": rtt, "proxy": proxy, "percall": percall}[mode](n)
        print(f"{secs * 1e6:.3f}")
