"""Sign-In with Ethereum (EIP-4361): what we issue is the standard text, byte for byte.

We never parse a client's message (app/identity/wallets.py matches it against what we stored),
so the tests of the EIP here are of what we *build*: the EIP's own examples and spruceid/siwe's
shared vectors (Apache-2.0; see their `_origin`), including signatures third-party wallets made
over the text siwe-js builds — they recover to the vector's address only if our text is the same.
"""
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from app.identity.errors import IdentityError, InvalidCredentials, SiweBadSignature, SiweError
from app.identity.siwe import build_message, format_timestamp, new_nonce, recover_signer

VECTORS = Path(__file__).parent / "siwe_vectors"


def load_vectors(name):
    data = json.loads((VECTORS / name).read_text())
    return {key: value for key, value in data.items() if not key.startswith("_")}


# The three examples of the EIP text (ERC-4361, "Examples"), reproduced exactly.
EIP_BODY = """\
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""
PREAMBLE = " wants you to sign in with your Ethereum account:\n"


@pytest.mark.parametrize("scheme, domain", [(None, "example.com"), (None, "example.com:3388"),
                                            ("https", "example.com")])
def test_eip_examples_are_what_we_build(scheme, domain):
    origin = f"{scheme}://{domain}" if scheme else domain
    assert build_message(
        scheme=scheme, domain=domain, address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        statement="I accept the ExampleOrg Terms of Service: https://example.com/tos",
        uri="https://example.com/login", chain_id=1, nonce="32891756", issued_at="2021-09-30T16:25:24Z",
        resources=["ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
                   "https://example.com/my-web2-claim.json"],
    ) == origin + PREAMBLE + EIP_BODY


@pytest.mark.parametrize("name, vector", load_vectors("parsing_positive.json").items())
def test_reference_vectors_are_what_we_build(name, vector):
    fields = vector["fields"]
    assert build_message(
        domain=fields["domain"], address=fields["address"], statement=fields.get("statement"),
        uri=fields["uri"], version=fields["version"], chain_id=int(fields["chainId"]),
        nonce=fields["nonce"], issued_at=fields["issuedAt"], resources=fields.get("resources"),
    ) == vector["message"]


def vector_text(vector):
    return build_message(
        domain=vector["domain"], address=vector["address"], statement=vector.get("statement"),
        uri=vector["uri"], chain_id=vector["chainId"], nonce=vector["nonce"],
        issued_at=vector["issuedAt"], expiration_time=vector.get("expirationTime"),
        not_before=vector.get("notBefore"),
    )


@pytest.mark.parametrize("name, vector", load_vectors("verification_positive.json").items())
def test_wallet_signatures_over_the_reference_text_recover_their_address(name, vector):
    """Third-party wallets signed the text siwe-js builds; our text must be the same bytes."""
    assert recover_signer(vector_text(vector), vector["signature"]) == vector["address"]


def test_statement_absent_means_two_empty_lines():
    text = build_message(domain="example.com", address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                         uri="https://example.com/login", chain_id=1, nonce="32891756",
                         issued_at="2021-09-30T16:25:24Z")
    assert text.startswith(
        "example.com wants you to sign in with your Ethereum account:\n"
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\nURI: https://example.com/login\n")


@pytest.mark.parametrize("field", ["statement", "domain", "uri", "nonce", "request_id", "resources"])
def test_no_field_can_add_a_line_of_its_own(field):
    fields = dict(domain="example.com", address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                  uri="https://example.com/login", chain_id=1, nonce="32891756",
                  issued_at="2021-09-30T16:25:24Z")
    fields[field] = ["ok:x", "a\nURI: https://evil.example"] if field == "resources" else "a\r\nb"
    with pytest.raises(ValueError, match="one line"):
        build_message(**fields)


def test_signatures_recover_the_signer_and_nothing_else():
    account, other = Account.create(), Account.create()
    text = build_message(domain="fairlabel.example", address=account.address,
                         uri="https://fairlabel.example/login", chain_id=31337, nonce=new_nonce(),
                         issued_at=datetime(2026, 11, 23, 18, 0, tzinfo=UTC), scheme="https")
    signature = account.sign_message(encode_defunct(text=text)).signature
    assert recover_signer(text, signature) == account.address
    assert recover_signer(text, "0x" + bytes(signature).hex()) == account.address
    assert recover_signer(text + " ", signature) != account.address  # one character changed
    assert recover_signer(text, other.sign_message(encode_defunct(text=text)).signature) == other.address
    for malformed in ("0x", "0x1234", "not hex", "0x" + "00" * 65):
        with pytest.raises(SiweBadSignature):
            recover_signer(text, malformed)


def test_errors_are_identity_errors_with_codes():
    assert issubclass(SiweBadSignature, SiweError) and issubclass(SiweError, InvalidCredentials)
    assert issubclass(SiweError, IdentityError) and issubclass(SiweError, ValueError)
    assert SiweBadSignature.code == "siwe_bad_signature"


def test_new_nonce_is_long_random_and_alphanumeric():
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 24 and n.isascii() and n.isalnum() for n in nonces)


def test_format_timestamp():
    moment = datetime(2021, 9, 30, 18, 25, 24, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2021-09-30T16:25:24.999Z"
    assert format_timestamp(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000Z"
    with pytest.raises(ValueError):
        format_timestamp(datetime(2021, 1, 1))
