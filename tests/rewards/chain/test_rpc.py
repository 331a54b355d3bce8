"""The chain boundary: whatever the transport does, callers see ChainUnavailable (issue #9: "A dead
RPC node gives 500"); what the node itself answers passes through."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from web3.exceptions import Web3RPCError

from rewards.chain.errors import ChainError, ChainUnavailable
from rewards.chain.rpc import http_web3, node_name


@pytest.fixture
def node() -> Iterator[dict]:
    """A fake node whose next answer the test chooses: `status`, `body`."""
    answer = {"status": 200, "body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = answer["body"]
            if callable(body):
                body = body(request)
            self.send_response(answer["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/v3/secret-key"
    yield answer
    server.shutdown()
    server.server_close()


def _w3(url: str):
    w3 = http_web3(url, timeout=2)
    w3.provider.exception_retry_configuration = None
    return w3


def test_a_closed_port_is_chain_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChainUnavailable, match=rf"http://127.0.0.1:{port} cannot be reached \(connection failed\)"):
        _w3(f"http://127.0.0.1:{port}/key").eth.block_number


@pytest.mark.parametrize("status, body, reason", [
    (502, b"<html>Bad gateway</html>", "HTTP 502"),
    (429, b"slow down", "HTTP 429"),
])
def test_an_http_error_status_is_chain_unavailable(node, status, body, reason):
    node.update(status=status, body=body)
    with pytest.raises(ChainUnavailable) as caught:
        _w3(node["url"]).eth.chain_id
    assert caught.value.details["reason"] == reason and "secret-key" not in str(caught.value)
    assert isinstance(caught.value, ChainError) and isinstance(caught.value, ConnectionError)


def test_an_answer_that_is_not_json_rpc_is_chain_unavailable(node):
    node.update(body=b"<html>captive portal</html>")
    with pytest.raises(ChainUnavailable, match="not JSON-RPC"):
        _w3(node["url"]).eth.chain_id


def test_a_batch_to_a_dead_node_is_chain_unavailable(node):
    node.update(status=503, body=b"")
    w3 = _w3(node["url"])
    with pytest.raises(ChainUnavailable), w3.batch_requests() as batch:
        batch.add(w3.eth.get_block("latest"))
        batch.execute()


def test_what_the_node_answers_passes_through(node):
    node.update(body=lambda r: json.dumps({"jsonrpc": "2.0", "id": r["id"],
                                           "error": {"code": -32000, "message": "header not found"}}).encode())
    with pytest.raises(Web3RPCError, match="header not found"):
        _w3(node["url"]).eth.get_block(12)
    node.update(body=lambda r: json.dumps({"jsonrpc": "2.0", "id": r["id"], "result": "0x7a69"}).encode())
    assert _w3(node["url"]).eth.chain_id == 31337


def test_node_name_keeps_only_scheme_host_and_port():
    assert node_name("https://user:pw@mainnet.example.org/v3/abc?x=1") == "https://mainnet.example.org"
    assert node_name("http://127.0.0.1:8545/key") == "http://127.0.0.1:8545"
