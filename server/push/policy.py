"""Which push endpoints this service contacts: the SSRF policy, and the address checks.

Push endpoints are untrusted input: only https endpoints of known push services are contacted,
never a private, loopback or link-local address, unless ``allow_local`` is set for tests that
run their own push service on 127.0.0.1. No database here: the delivery pipeline and the
subscription API both ask.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from server.config import DEFAULT_PUSH_HOSTS
from server.errors import InvalidInput


class UnsafeEndpoint(InvalidInput):
    """A push endpoint this service refuses to contact."""


@dataclass(frozen=True)
class EndpointPolicy:
    """Which push endpoints may be contacted."""

    allowed_hosts: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    allow_local: bool = False

    def check(self, endpoint: str) -> None:
        """Raise ``UnsafeEndpoint`` unless the endpoint may be contacted. The addresses a host
        resolves to are checked when connecting, by ``PushSender``."""
        if not (endpoint.isascii() and endpoint.isprintable()) or " " in endpoint:
            raise UnsafeEndpoint("must be a URL of printable ASCII characters", field="endpoint")
        try:
            parts = urlsplit(endpoint)  # raises for a broken IPv6 literal, say
        except ValueError:
            raise UnsafeEndpoint("is not a valid URL", field="endpoint") from None
        host = parts.hostname or ""
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
        except ValueError:
            raise UnsafeEndpoint("has no valid port", field="endpoint") from None
        if "@" in parts.netloc:  # no push service wants credentials: libcurl would send them
            raise UnsafeEndpoint("must not carry a user name or password", field="endpoint")
        if self.allow_local:
            if parts.scheme not in ("https", "http") or not host:
                raise UnsafeEndpoint("must be an absolute http(s) URL", field="endpoint")
            return
        if parts.scheme != "https" or not host:
            raise UnsafeEndpoint("must be an absolute https URL", field="endpoint")
        if not any(
            host == allowed or (allowed.startswith(".") and host.endswith(allowed))
            for allowed in self.allowed_hosts
        ):
            raise UnsafeEndpoint("not a known push service", field="endpoint")


def endpoint_policy(config: Mapping[str, Any]) -> EndpointPolicy:
    """The endpoint policy of an app's configuration."""
    return EndpointPolicy(tuple(config["PUSH_ALLOWED_HOSTS"]), bool(config["PUSH_ALLOW_LOCAL"]))


# IPv6 prefixes that carry an IPv4 address in their last 32 bits to a translator (RFC 6052
# NAT64; RFC 2765 SIIT's IPv4-translated addresses), and the local-use NAT64 prefix (RFC 8215),
# where the IPv4 part may sit elsewhere: refused whole
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_public(address: str) -> bool:
    """A global address, and so is any IPv4 address inside it (IPv4-mapped, 6to4, NAT64,
    IPv4-compatible): through a translator such an address leads wherever its IPv4 part does."""
    ip = ipaddress.ip_address(address)
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if ip in LOCAL_NAT64:
        return False
    inner = ip.ipv4_mapped or ip.sixtofour
    if inner is None and (ip in NAT64 or ip in IPV4_TRANSLATED or int(ip) >> 32 == 0):
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return inner is None or inner.is_global


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, all of them public; ``OSError`` if any is not, so a
    push service's name cannot be pointed at this network."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OSError(errno.EHOSTUNREACH, f"cannot resolve {host}: {error}") from error
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    for address in addresses:
        if not is_public(address):
            raise OSError(errno.EACCES, f"{host} resolves to a non-public address {address}")
    return addresses
