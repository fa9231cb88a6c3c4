"""Who may use ``maedfer serve`` and ``maedfer app``: a bearer token, required off loopback.

A server that listens on any address other than loopback is reachable from the network, so it
refuses to start without a token unless the user says ``--no-auth``. The token comes from a
file (``--token-file``) or the ``MAEDFER_TOKEN`` environment variable, never from the command
line (where ``ps`` and shell histories show it), and it is never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from pathlib import Path

from ..errors import MaedferError

TOKEN_ENV = "MAEDFER_TOKEN"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) only ever resolves to loopback addresses."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def read_token(token_file: str | None) -> str | None:
    """The token of ``token_file`` (its first line), else of ``$MAEDFER_TOKEN``, else None.
    A token shorter than 16 characters is refused: it could be guessed."""
    if token_file:
        try:
            lines = Path(token_file).read_text().splitlines()
        except OSError as e:
            raise MaedferError(f"--token-file {token_file}: cannot read it ({e.strerror or e})") from None
        token, source = (lines[0].strip() if lines else ""), f"--token-file {token_file}"
    elif os.environ.get(TOKEN_ENV):
        token, source = os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise MaedferError(
            f"{source}: the token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def required_token(host: str, token_file: str | None, no_auth: bool) -> str | None:
    """The token the server checks (None: no check). Off loopback a token is required unless
    ``no_auth``; the refusal names both ways."""
    if no_auth and token_file:
        raise MaedferError("--no-auth and --token-file contradict each other: give one")
    if no_auth:
        return None
    token = read_token(token_file)
    if token is None and not is_loopback(host):
        raise MaedferError(
            f"--host {host} is reachable from the network: give a token (--token-file FILE, or the "
            f"environment variable {TOKEN_ENV}) or say --no-auth to serve without one"
        )
    return token


def token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>``, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
