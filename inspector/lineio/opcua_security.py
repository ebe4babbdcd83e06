"""The OPC UA server's security: Basic256Sha256 Sign & Encrypt, trusted clients, a user name."""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509

from inspector.errors import InspectorError
from inspector.lineio.config import OpcUaSecurity


class SecurityProblem(InspectorError):
    """The configured certificate, key, trusted folder or password cannot be used."""


class PasswordUser:
    """asyncua's user manager for one user name and password (compared in constant time)."""

    def __init__(self, username: str, password: str) -> None:
        self._username, self._password = username.encode(), password.encode()

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None or password is None:
            return None  # anonymous (the endpoint offers no anonymous token anyway)
        same_user = hmac.compare_digest(username.encode(), self._username)
        same_password = hmac.compare_digest(password.encode(), self._password)
        return User(role=UserRole.User, name=username) if same_user and same_password else None


def user_manager(security: OpcUaSecurity | None) -> PasswordUser | None:
    """The user manager the Server is made with (None: asyncua's default, anonymous)."""
    if security is None or security.username is None:
        return None
    password = os.environ.get(security.password_env)
    if not password:
        raise SecurityProblem(f"security.username is set but the environment variable "
                              f"{security.password_env} holding its password is empty or unset")
    return PasswordUser(security.username, password)


async def secure(server: Server, security: OpcUaSecurity) -> None:
    """Only Basic256Sha256 Sign & Encrypt with the configured certificate; user name or
    anonymous tokens; client certificates checked against the trusted folder when set."""
    try:
        await server.load_certificate(str(security.certificate))
    except (OSError, ValueError) as exc:
        raise SecurityProblem(f"security.certificate {security.certificate}: {exc}") from exc
    try:
        await server.load_private_key(str(security.private_key))
    except (OSError, ValueError, TypeError) as exc:
        raise SecurityProblem(f"security.private_key {security.private_key}: {exc}") from exc
    uri = application_uri(security.certificate)
    if uri:
        await server.set_application_uri(uri)
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    server.set_identity_tokens([ua.UserNameIdentityToken] if security.username
                               else [ua.AnonymousIdentityToken])
    if security.trusted_clients is not None:
        server.set_certificate_validator(await _trusted(security.trusted_clients))


def application_uri(certificate: Path) -> str | None:
    """The certificate's subjectAltName URI, if it has one."""
    data = certificate.read_bytes()
    cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data))
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


async def _trusted(folder: Path) -> CertificateValidator:
    if not folder.is_dir():
        raise SecurityProblem(f"security.trusted_clients {folder}: not a folder")
    store = TrustStore([folder], [])
    await store.load()
    options = (CertificateValidatorOptions.TRUSTED_VALIDATION
               | CertificateValidatorOptions.PEER_CLIENT)
    return CertificateValidator(options, store)

