"""A TCP proxy that can freeze: both sockets stay open but nothing passes (a half-open link).

Neither end sees a close or a reset, and each end's kernel still acknowledges keepalives: only
the silence tells. Listens on a port of 57000–57099 (the scale tests' range).
"""

from __future__ import annotations

import select
import socket
import threading
from contextlib import suppress

from tests.e2e.replication import free_port_in_range


class FreezableProxy:
    """Forwards 127.0.0.1:port to a target until frozen."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port_in_range()
        self.frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.frozen.is_set():
                self._sockets.append(client)  # accepted by the kernel anyway: never answered
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                if self.frozen.is_set():
                    self._closed.wait(0.1)
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:  # one end closed or reset: close the other (unless frozen, which never tells)
            for sock in (a, b):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def freeze(self) -> None:
        """Stop passing anything, in both directions, without closing."""
        self.frozen.set()

    def close(self) -> None:
        """Close every socket."""
        self._closed.set()
        with suppress(OSError):
            self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
