"""Real network faults between the agent and its services: a TCP proxy on 127.0.0.1 that a test can cut and
restore (an outage of the chain node or IPFS daemon), and a Kubo-compatible IPFS server in its own process
that a test SIGKILLs and starts again on the same repo and port."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path


def serve_kubo_like(repo: Path, port: int) -> subprocess.Popen:
    """`twinledger.cli.ipfs serve` over the embedded repo `repo` on 127.0.0.1:`port`, in a session of its own
    (so `os.killpg` kills it and nothing else); returns once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "twinledger.cli.ipfs", "--store", f"embedded:{repo}",
                             "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None and b"listening" in proc.stdout.readline()
    return proc


class CuttableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._open.set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        self._open.clear()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
