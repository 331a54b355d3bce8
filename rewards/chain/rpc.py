"""JSON-RPC over HTTP with one error for "the node cannot be asked": ChainUnavailable.

Every node the platform talks to (the configured chain, `flask rewards deploy`, `verify-proof
--rpc`) is reached through `http_web3(url)`. Its provider turns what the transport raises (a
refused or dropped connection, a timeout, an HTTP error status such as 429 or 502, a body that is
not JSON) into ChainUnavailable, so callers catch one domain error instead of requests' and
web3's, and the web app answers 503 instead of 500. Errors the node itself reports (a revert, an
unknown transaction) are not unavailability and pass through unchanged.

The wrapping sits outside web3's retry loop: the usual retries for idempotent reads happen first.
Messages name the node by host only: RPC URLs often carry an API key in their path.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from web3 import Web3
from web3.exceptions import ProviderConnectionError
from web3.providers.rpc import HTTPProvider

from rewards.chain.errors import ChainUnavailable

_TRANSPORT_ERRORS = (requests.exceptions.RequestException, ProviderConnectionError, OSError)


def node_name(url: str) -> str:
    """The node's scheme, host and port, without the path or credentials that may hold a key."""
    parts = urlsplit(str(url))
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class GuardedHTTPProvider(HTTPProvider):
    """web3's HTTPProvider whose transport failures raise ChainUnavailable."""

    def _unavailable(self, exc: BaseException) -> ChainUnavailable:
        node = node_name(str(self.endpoint_uri))
        reason = type(exc).__name__
        if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
            reason = f"HTTP {exc.response.status_code}"
        elif isinstance(exc, requests.exceptions.Timeout):
            reason = "timed out"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            reason = "connection failed"
        return ChainUnavailable(f"The blockchain node {node} cannot be reached ({reason}).", node=node,
                                reason=reason)

    def make_request(self, method: Any, params: Any) -> Any:
        try:
            return super().make_request(method, params)
        except ChainUnavailable:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def make_batch_request(self, batch_requests: Any) -> Any:
        try:
            return super().make_batch_request(batch_requests)
        except ChainUnavailable:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def decode_rpc_response(raw_response: bytes) -> Any:
        try:
            return HTTPProvider.decode_rpc_response(raw_response)
        except (ValueError, UnicodeDecodeError) as exc:  # a proxy's HTML error page, a cut body
            raise ChainUnavailable("The blockchain node answered something that is not JSON-RPC.",
                                   reason="not JSON-RPC") from exc


def http_web3(url: str, *, timeout: float = 15) -> Web3:
    """A Web3 for the node at `url` whose transport failures raise ChainUnavailable."""
    return Web3(GuardedHTTPProvider(url, request_kwargs={"timeout": timeout}))
