"""Where a webhook may be sent. A `callback_url` is checked for its shape, its host is resolved,
and it is refused if ANY address is loopback, private, link-local, multicast, reserved,
unspecified or otherwise not globally reachable (IPv4 inside IPv6 is unwrapped first). The
`CallbackTarget` that comes out carries the addresses that were checked: a delivery dials
exactly those (see `webhooks.py`), so a name cannot pass the check and then point elsewhere.

Numeric hosts must be written the one canonical way (four decimal numbers, or an IPv6 literal
in brackets): `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1` or `0` are refused as
spellings, before any resolver sees them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

# (host, port) -> the addresses a connection to host would use, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_CHARS = 2048
RESOLVE_TIMEOUT_S = 5.0
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_PUBLIC_ONLY = "webhooks are delivered only to publicly reachable hosts"


class CallbackUrlRefused(ValueError):
    """The callback URL is malformed or leads to an address webhooks may not go to."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallbackTarget:
    """A checked callback URL and the addresses a delivery to it may connect to."""

    url: httpx.URL
    host: str  # as sent in the Host header and TLS SNI (IDNA-encoded, no brackets)
    port: int
    addresses: tuple[str, ...]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses getaddrinfo gives for host, resolved off the event loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: str) -> str | None:
    """Why address is not a place webhooks may go, or None when it is globally reachable."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = refusal(str(embedded))
            if inner is not None:
                return f"{address} carries an IPv4 address: {inner}"
        if ip in _NAT64_LOCAL:
            return f"{address} is a local-use NAT64 address"
    for kind, matches in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    ):
        if matches:
            return f"{address} is a {kind} address"
    if not ip.is_global:
        return f"{address} is not a globally reachable address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse(url: str, *, allow_private: bool) -> tuple[httpx.URL, str, int]:
    """(url, host, port) of a callback URL whose shape is acceptable; raises CallbackUrlRefused."""
    if len(url) > MAX_URL_CHARS:
        raise CallbackUrlRefused(f"Must be at most {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise CallbackUrlRefused(f"Is not a valid URL ({exc})") from None
    if parsed.scheme not in ("https", "http") or not parsed.raw_host:
        raise CallbackUrlRefused("Must be an absolute https URL, like https://example.com/hook")
    if parsed.userinfo:
        raise CallbackUrlRefused("Must not contain a user name or password")
    if parsed.scheme != "https" and not allow_private:
        raise CallbackUrlRefused("Must use https")
    host = parsed.raw_host.decode("ascii").lower()
    if ":" not in host:  # not an IPv6 literal
        _check_ipv4_spelling(host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed, host, port


def _check_ipv4_spelling(host: str) -> None:
    """Refuse hosts that an IPv4 parser would read as a number unless written canonically."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL.fullmatch(last):
        return
    try:
        if str(ipaddress.IPv4Address(host)) == host:
            return
    except ValueError:
        pass
    raise CallbackUrlRefused(
        f"The host {host!r} is not a valid IPv4 address or host name: write an IPv4 address "
        "as four decimal numbers (like 203.0.113.7), or use a host name"
    )


async def check(url: str, *, allow_private: bool, resolver: Resolver) -> CallbackTarget:
    """The target of a callback URL, resolved and checked; raises CallbackUrlRefused."""
    parsed, host, port = parse(url, allow_private=allow_private)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await _resolve(resolver, host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                shown = reason if address == host else f"{host} resolves to {reason}"
                raise CallbackUrlRefused(
                    f"Must not point at a non-public host: {shown}; {_PUBLIC_ONLY}"
                )
    return CallbackTarget(url=parsed, host=host, port=port, addresses=tuple(addresses))


async def _resolve(resolver: Resolver, host: str, port: int) -> list[str]:
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            addresses = await resolver(host, port)
    except TimeoutError:
        raise CallbackUrlRefused(
            f"The host {host} could not be resolved within {RESOLVE_TIMEOUT_S:g} s"
        ) from None
    except (OSError, UnicodeError) as exc:
        raise CallbackUrlRefused(f"The host {host} could not be resolved ({exc})") from None
    if not addresses:
        raise CallbackUrlRefused(f"The host {host} has no address")
    return addresses
