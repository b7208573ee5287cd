"""A probe for Spark's RPC ports (a driver's RpcEnv and block manager, a standalone
master's and worker's): an anonymous client sends one RPC and must be turned away by
spark.authenticate's handshake. Returns how it was refused; raises AssertionError when
the port served it."""

from __future__ import annotations

import socket
import struct

# Spark's transport frame: its length (8 bytes, itself included), the message type, then
# the message; an RpcRequest (3) is its id (8) and the body's length (4); the answer
# RpcFailure (5) is the id and a length-prefixed error text.
_RPC_REQUEST, _RPC_RESPONSE, _RPC_FAILURE = 3, 4, 5
# The Java serialisation magic (what a driver's RpcEnv expects) and nothing after it.
_RPC_BODY = b"\xac\xed\x00\x05" + b"\x00" * 12


def spark_rpc_refused(port: int) -> str:
    """An RPC without Spark's authentication handshake on a driver's RPC or block
    manager port (or a standalone master's or worker's). Without spark.authenticate,
    the block manager answers it (RpcResponse) and the RpcEnv tries to run it (a
    deserialisation failure); with it, only the SASL/auth handshake is read."""
    message = bytes([_RPC_REQUEST]) + struct.pack(">qi", 42, len(_RPC_BODY)) + _RPC_BODY
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(struct.pack(">q", 8 + len(message)) + message)
        answer = b""
        while len(answer) < 8 or len(answer) < struct.unpack(">q", answer[:8])[0]:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    kind = answer[8] if len(answer) > 8 else None
    text = answer[21:].decode("utf-8", "replace") if kind == _RPC_FAILURE else ""
    assert kind != _RPC_RESPONSE, f"port {port} answered an unauthenticated Spark RPC: {answer[:80]!r}"
    if kind is None:
        return "unauthenticated Spark RPC: connection closed"
    first = text.splitlines()[0] if text else repr(answer[:40])
    assert "SaslMessage" in text or "AuthMessage" in text, f"port {port} ran an unauthenticated Spark RPC: {first}"
    return f"unauthenticated Spark RPC -> {first[:90]}"
