"""Helpers for tests against the real RabbitMQ at 127.0.0.1:5672 (guest/guest)."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import pika
from services import require_service

HOST, PORT = "127.0.0.1", 5672


def require_rabbitmq() -> None:
    """Fail under CI=true, skip otherwise, when no broker listens at 127.0.0.1:5672."""
    require_service("rabbitmq")


def wait_until_following(tail, timeout: float = 30) -> list[str]:
    """Read `events tail`'s standard error until it says it follows the exchange: its queue
    is bound from then on, so every event published afterwards reaches it. The lines read."""
    read: list[str] = []
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        ready, _, _ = select.select([tail.stderr], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            break
        line = tail.stderr.readline()
        if not line:  # it ended first
            break
        read.append(line)
        if line.startswith("Following "):
            return read
    raise AssertionError(f"events tail did not say it follows within {timeout} s: {read}")


def connection() -> pika.BlockingConnection:
    return pika.BlockingConnection(
        pika.ConnectionParameters(HOST, PORT, credentials=pika.PlainCredentials("guest", "guest"))
    )


@dataclass
class Bus:
    """A private exchange and queue for one test, removed afterwards."""

    name: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:12]}")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "EVENTS_ENABLED": "true",
            "ISB_HOST": HOST,
            "ISB_PORT": str(PORT),
            "ISB_EXCHANGE": self.name,
            "ISB_QUEUE": self.name,
            **extra,
        }

    def messages(
        self, expected: int, timeout: float = 30.0
    ) -> list[tuple[pika.spec.BasicProperties, pika.spec.Basic.Deliver, bytes]]:
        """Consume until `expected` messages arrived or `timeout` idle seconds passed."""
        received = []
        with closing(connection()) as conn:
            channel = conn.channel()
            channel.basic_qos(prefetch_count=1000)
            for method, properties, body in channel.consume(self.name, inactivity_timeout=timeout):
                if method is None:
                    break
                received.append((properties, method, body))
                channel.basic_ack(method.delivery_tag)
                if len(received) >= expected:
                    break
            channel.cancel()
        return received

    def count(self) -> int:
        with closing(connection()) as conn:
            return conn.channel().queue_declare(self.name, passive=True).method.message_count

    def delete(self) -> None:
        with closing(connection()) as conn:
            channel = conn.channel()
            channel.queue_delete(self.name)
            channel.exchange_delete(self.name)

    @staticmethod
    def delete_queues(*queues: str) -> None:
        """Remove queues a test's triggers declared."""
        with closing(connection()) as conn:
            channel = conn.channel()
            for queue in queues:
                channel.queue_delete(queue)


@contextmanager
def closing(conn: pika.BlockingConnection) -> Iterator[pika.BlockingConnection]:
    try:
        yield conn
    finally:
        if conn.is_open:
            conn.close()


class StallingBroker:
    """Takes TCP connections on loopback and never answers: a broker that hangs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.server.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.server.close()
        for sock in self.accepted:
            sock.close()


class BreakableProxy:
    """A TCP proxy on loopback in front of RabbitMQ whose connections the test can cut or stall."""

    def __init__(self, cut_after_bytes: int | None = None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.cuts = 0
        # Cut every connection once clients sent this many bytes: midway, however fast.
        self.cut_after_bytes = cut_after_bytes
        self.sent = 0
        # Set: nothing more is forwarded either way, the connections stay open.
        self.stalled = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, PORT))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                if self.stalled.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is a and self.cut_after_bytes is not None:
                        with self._lock:
                            self.sent += len(data)
                            over = self.sent > self.cut_after_bytes
                        if over:
                            self.cut()
                            return
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):  # cut() closed a socket under us (ValueError: fd -1)
            return

    def cut(self) -> None:
        """Break every open connection, as a network failure would."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.cuts += 1

    def close(self) -> None:
        self.server.close()
        self.cut()
