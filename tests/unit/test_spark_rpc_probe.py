"""The Spark RPC probe (tests/spark_rpc.py) tells a refusal from a served request: fed
the answers Spark 4.1 gave it on a driver without spark.authenticate (the block
manager's RpcResponse, the RpcEnv's deserialisation failure) it fails; fed the SASL
handshake's refusal it passes."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from tests.spark_rpc import spark_rpc_refused


def _frame(kind: int, payload: bytes) -> bytes:
    message = bytes([kind]) + struct.pack(">q", 42) + payload
    return struct.pack(">q", 8 + len(message)) + message


def _failure(text: str) -> bytes:
    data = text.encode()
    return _frame(5, struct.pack(">i", len(data)) + data)


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """Answers each connection with the next canned reply, after reading the request."""
    replies: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(replies.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], replies
    listener.close()


def test_an_answered_rpc_is_served(server: tuple[int, list[bytes]]) -> None:
    port, replies = server
    replies.append(_frame(4, struct.pack(">i", 4) + b"\x00" * 4))
    with pytest.raises(AssertionError, match="answered an unauthenticated Spark RPC"):
        spark_rpc_refused(port)


def test_an_rpc_that_reached_the_rpc_env_is_served(server: tuple[int, list[bytes]]) -> None:
    port, replies = server
    replies.append(_failure("java.io.StreamCorruptedException: invalid stream header: 00000000\n\tat ..."))
    with pytest.raises(AssertionError, match="ran an unauthenticated Spark RPC"):
        spark_rpc_refused(port)


def test_the_sasl_handshake_refusal_is_a_refusal(server: tuple[int, list[bytes]]) -> None:
    port, replies = server
    replies.append(_failure("java.lang.IllegalStateException: Expected SaslMessage, received something else"))
    assert "Expected SaslMessage" in spark_rpc_refused(port)
