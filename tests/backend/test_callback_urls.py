"""callback_url cannot turn the backend against its own host or network: every spelling of a
loopback, private, link-local or otherwise non-public address is refused when the run is
started (400, field callback_url, nothing charged, no connection made), and again when the
webhook is delivered, because a name's resolution can change in between."""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from resolver import Zone
from sqlalchemy import select

from flora_backend import callback_urls
from flora_backend.store import Run

PUBLIC = "93.184.215.14"  # a globally reachable address; no test ever connects to it

# Names /etc/hosts answers (no DNS query leaves the machine).
SYSTEM_NAMES = ("localhost", socket.gethostname())


def zone() -> Zone:
    return Zone(
        {
            "loopback-alias.test": "127.0.0.1",
            "mapped-alias.test": "::ffff:127.0.0.1",
            "metadata-alias.test": "169.254.169.254",
            "mixed.test": ["127.0.0.1", PUBLIC],  # loopback first: a miss would dial it
            "private-v6.test": "fd00::1",
        },
        system=SYSTEM_NAMES,
    )


# Spellings of this machine's loopback: each would reach a listener on 127.0.0.1:PORT.
LOOPBACK_SPELLINGS = [
    "https://127.0.0.1:{port}/h",
    "https://127.1:{port}/h",
    "https://127.0.1:{port}/h",
    "https://2130706433:{port}/h",
    "https://0x7f000001:{port}/h",
    "https://0x7f.0.0.1:{port}/h",
    "https://0177.0.0.1:{port}/h",
    "https://017700000001:{port}/h",
    "https://0:{port}/h",
    "https://0.0.0.0:{port}/h",
    "https://127.0.0.1.:{port}/h",
    "https://[::1]:{port}/h",
    "https://[::]:{port}/h",
    "https://[::ffff:127.0.0.1]:{port}/h",
    "https://[::ffff:7f00:1]:{port}/h",
    "https://[0:0:0:0:0:ffff:127.0.0.1]:{port}/h",
    "https://[::127.0.0.1]:{port}/h",
    "https://[2002:7f00:1::]:{port}/h",
    "https://[64:ff9b::7f00:1]:{port}/h",
    "https://localhost:{port}/h",
    "https://localhost.:{port}/h",
    "https://LocalHost:{port}/h",
    "https://" + socket.gethostname() + ":{port}/h",
    "https://loopback-alias.test:{port}/h",
    "https://mapped-alias.test:{port}/h",
    "https://mixed.test:{port}/h",
]

# Other non-public networks (never connected to: refused before any connection).
PRIVATE_TARGETS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata-alias.test/computeMetadata/v1/",
    "https://[fe80::1]/h",
    "https://10.0.0.8/h",
    "https://10.255.255.255/h",
    "https://172.16.0.1/h",
    "https://172.31.255.254/h",
    "https://192.168.1.1/h",
    "https://100.64.0.1/h",
    "https://100.127.255.254/h",
    "https://[fc00::1]/h",
    "https://private-v6.test/h",
    "https://224.0.0.1/h",
    "https://[ff02::1]/h",
    "https://240.0.0.1/h",
    "https://255.255.255.255/h",
    "https://192.0.2.10/h",
    "https://198.18.0.1/h",
    "https://[::ffff:10.0.0.1]/h",
    "https://[64:ff9b::a00:1]/h",
    "https://[2001:db8::1]/h",
]


async def start_generation(raw, ws: str, callback_url: str):
    prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"type": "image", "prompt": "a fox", "workspace_id": ws}
    body.update(project_id=prj["project_id"], callback_url=callback_url)
    return await raw.post("generate", json=body)


async def runs_in(backend) -> int:
    async with backend.sessions() as s:
        return len((await s.execute(select(Run.id))).scalars().all())


def assert_refused(response, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "input_validation_error"
    [field] = error["fields"]
    assert field["field"] == "callback_url"
    for word in words:
        assert word in field["message"], field["message"]


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
async def test_loopback_spellings_are_refused_at_request_time(
    template, new_backend, raw_for, hook_server
):
    listener = await hook_server()
    b = await new_backend(callback_resolver=zone())
    ws, key = await b.default_credentials()
    before = await b.credits(ws)
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, template.format(port=listener.port))
    assert_refused(r)
    await asyncio.sleep(0.1)  # several sweeps
    assert listener.connections == 0
    assert await runs_in(b) == 0 and await b.credits(ws) == before


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
async def test_private_and_link_local_targets_are_refused_at_request_time(
    url, new_backend, raw_for
):
    b = await new_backend(callback_resolver=zone())
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, url)
    assert_refused(r, "non-public host", "publicly reachable")
    assert await runs_in(b) == 0


async def test_refusal_names_the_address_a_name_resolves_to(new_backend, raw_for):
    b = await new_backend(callback_resolver=zone())
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, "https://metadata-alias.test/x")
    assert_refused(r, "metadata-alias.test resolves to 169.254.169.254", "link-local")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://999.1.1.1/x", ["valid URL"]),
        ("https://1.2.3.256/x", ["valid URL"]),
        ("https://example.123/x", ["not a valid IPv4 address or host name"]),
        ("https://user:pw@hooks.test/x", ["user name or password"]),
        ("http://hooks.test/x", ["https"]),
        ("ftp://hooks.test/x", ["absolute https URL"]),
        ("/relative/path", ["absolute https URL"]),
        ("https://unknown.test/x", ["could not be resolved"]),
        ("https://hooks.test/" + "a" * 3000, ["at most 2048"]),
    ],
)
async def test_malformed_callback_urls_are_refused_with_the_reason(
    url, words, new_backend, raw_for
):
    b = await new_backend(callback_resolver=Zone({"hooks.test": PUBLIC}))
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, url)
    assert_refused(r, *words)
    assert await runs_in(b) == 0


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::ffff:127.0.0.1", ["127.0.0.1", PUBLIC], ["::ffff:7f00:1", PUBLIC]],
)
async def test_a_name_that_turns_to_loopback_before_delivery_gets_no_connection(
    address, new_backend, raw_for, hook_server
):
    listener = await hook_server()
    dns = Zone()
    dns.set("hooks.test", PUBLIC, address)  # public when checked, loopback when delivered
    b = await new_backend(callback_resolver=dns, speed=0.2)  # due in about a second
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, f"https://hooks.test:{listener.port}/h")
        assert r.status_code == 201, r.text
    assert dns.queries == ["hooks.test"]  # checked at request time, before any delivery
    run = await wait_for_attempts(b, 1)
    assert run.callback_state == "pending"  # a failed attempt, retried later
    assert dns.queries == ["hooks.test", "hooks.test"]  # resolved again at delivery
    await asyncio.sleep(0.2)
    assert listener.connections == 0


async def wait_for_attempts(backend, count: int, timeout: float = 10.0) -> Run:
    for _ in range(int(timeout / 0.02)):
        async with backend.sessions() as s:
            run = (await s.execute(select(Run))).scalars().first()
        if run is not None and run.callback_attempts >= count:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} delivery attempts, got {run and run.callback_attempts}")


async def test_delivery_dials_the_checked_address_with_the_original_host(
    new_backend, raw_for, hook_server
):
    listener = await hook_server()
    dns = Zone({"hooks.test": "127.0.0.1"})  # the system resolver does not know this name
    b = await new_backend(callback_resolver=dns, callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, listener.url("/in?x=1", host="hooks.test"))
        assert r.status_code == 201, r.text
    await listener.wait(1)
    [request] = listener.requests
    assert request.headers["host"] == f"hooks.test:{listener.port}"
    assert request.method == "POST" and request.target == "/in?x=1"
    assert dns.queries == ["hooks.test", "hooks.test"]  # request time, delivery time: no third


async def test_allow_private_admits_loopback_and_plain_http(new_backend, raw_for, hook_server):
    listener = await hook_server()
    b = await new_backend(callback_resolver=zone(), callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, listener.url(host="localhost"))
        assert r.status_code == 201, r.text
    await listener.wait(1)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.2", "10.1.2.3", "::1", "fe80::1%eth0", "::ffff:192.168.0.1", "2001::1", "not-an-ip"],
)
def test_refusal_classifies_non_public_addresses(address):
    assert callback_urls.refusal(address) is not None


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111"])
def test_refusal_admits_globally_reachable_addresses(address):
    assert callback_urls.refusal(address) is None


def tls_pair(name: str, tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts: a certificate for name, signed by a CA only client trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def cert(subject, issuer, public_key, signing_key, *, ca: bool, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = cert("test CA", "test CA", ca_key.public_key(), ca_key, ca=True)
    leaf = cert(name, "test CA", leaf_key.public_key(), ca_key, ca=False, san=[x509.DNSName(name)])
    pem = serialization.Encoding.PEM
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    key_format = serialization.PrivateFormat.PKCS8
    no_password = serialization.NoEncryption()
    (tmp / "leaf.key").write_bytes(leaf_key.private_bytes(pem, key_format, no_password))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


async def test_tls_delivery_sends_the_name_as_sni_and_verifies_it(
    tmp_path, new_backend, raw_for, hook_server
):
    server_tls, client_tls = tls_pair("hooks.test", tmp_path)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    listener = await hook_server(ssl=server_tls)
    b = await new_backend(
        callback_resolver=Zone({"hooks.test": "127.0.0.1"}),
        webhook_ssl_context=client_tls,
        callbacks_allow_private=True,
    )
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, listener.url(host="hooks.test", scheme="https"))
        assert r.status_code == 201, r.text
    await listener.wait(1)
    assert names == ["hooks.test"]
    assert listener.requests[0].headers["host"] == f"hooks.test:{listener.port}"


async def test_tls_delivery_refuses_a_certificate_for_another_name(
    tmp_path, new_backend, raw_for, hook_server
):
    server_tls, client_tls = tls_pair("other.test", tmp_path)
    listener = await hook_server(ssl=server_tls)
    b = await new_backend(
        callback_resolver=Zone({"hooks.test": "127.0.0.1"}),
        webhook_ssl_context=client_tls,
        callbacks_allow_private=True,
    )
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        r = await start_generation(raw, ws, listener.url(host="hooks.test", scheme="https"))
        assert r.status_code == 201, r.text
    run = await wait_for_attempts(b, 4)
    assert run.callback_state == "failed" and listener.requests == []
