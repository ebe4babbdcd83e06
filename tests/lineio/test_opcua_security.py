"""The OPC UA server with Basic256Sha256 Sign & Encrypt, a user name, and GetResultById."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from inspector.commands.api_server import station_api
from inspector.commands.preflight import lineio_problems
from inspector.config import ConfigValidationError, parse_config
from inspector.lineio.opcua import OpcUaLine
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore
from tests.lineio.test_opcua import NS, _config, _value, _wait_value, run_client
from tests.pipeline.fakes import FakeClassifier
from tests.rows import stored_rows

PASSWORD_ENV = "INSPECTOR_TEST_OPCUA_PASSWORD"
CLIENT_URI = "urn:inspector:test:plc"


def make_certificate(folder: Path, name: str, uri: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM) with the URI and this host in its names."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(uri), x509.DNSName(socket.gethostname()),
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                     key_encipherment=True, data_encipherment=True,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path, monkeypatch) -> dict:
    """Server and client certificates; the client's in the server's trusted folder; a password."""
    server = make_certificate(tmp_path / "pki", "station", "urn:inspector:test:station",
                              ExtendedKeyUsageOID.SERVER_AUTH)
    client = make_certificate(tmp_path / "pki", "plc", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH)
    stranger = make_certificate(tmp_path / "pki", "stranger", CLIENT_URI,
                                ExtendedKeyUsageOID.CLIENT_AUTH)
    trusted = tmp_path / "pki" / "trusted"
    trusted.mkdir()
    (trusted / "plc.pem").write_bytes(client[0].read_bytes())
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-line-7")
    return {"server": server, "client": client, "stranger": stranger, "trusted": trusted}


async def _secure_client(url: str, cert: tuple[Path, Path], server_cert: Path,
                         user: str | None = "plc", password: str = "s3cret-line-7") -> Client:
    client = Client(url, timeout=10)
    client.application_uri = CLIENT_URI
    await client.set_security(SecurityPolicyBasic256Sha256, str(cert[0]), str(cert[1]),
                              server_certificate=str(server_cert))
    if user:
        client.set_user(user)
        client.set_password(password)
    return client


async def _plc(url: str, pki: dict) -> dict:
    seen: dict = {}
    client = await _secure_client(url, pki["client"], pki["server"][0])
    async with client:
        idx = await client.get_namespace_index(NS)
        station = client.get_node(f"ns={idx};s=Inspector")
        await _wait_value(client, idx, "VisionStateMachine.CurrentState", "Operational")
        part_id = await station.call_method(f"{idx}:Trigger", "PLC-7")
        await _wait_value(client, idx, "LastResult.ResultId", part_id)
        seen["part_id"] = part_id
        seen["verdict"] = await _value(client, idx, "LastResult.Verdict")
        get = f"{idx}:GetResultById"
        seen["by_id"] = await station.call_method(get, part_id)
        seen["by_ref"] = await station.call_method(get, "PLC-7")
        seen["errors"] = []
        for args in (["no-such-part"], [ua.Variant(3, ua.VariantType.Int32)], []):
            with pytest.raises(ua.UaStatusCodeError) as err:
                await station.call_method(get, *args)
            seen["errors"].append(type(err.value).__name__)
    # Refused: no security, a wrong password, a certificate the station does not trust.
    seen["refused"] = []
    attempts = [Client(url, timeout=5),
                await _secure_client(url, pki["client"], pki["server"][0], password="wrong"),
                await _secure_client(url, pki["stranger"], pki["server"][0])]
    for attempt in attempts:
        try:
            async with attempt:
                await attempt.get_namespace_index(NS)
            seen["refused"].append(False)
        except Exception:  # each client library error type: what matters is that it failed
            seen["refused"].append(True)
    return seen


def test_a_secure_client_triggers_and_gets_the_stored_result_others_are_refused(tmp_path, pki):
    cfg = _config(tmp_path, endpoint="opc.tcp://127.0.0.1:0", security={
        "certificate": str(pki["server"][0]), "private_key": str(pki["server"][1]),
        "trusted_clients": str(pki["trusted"]), "username": "plc", "password_env": PASSWORD_ENV})
    station = Station.from_config(cfg, FakeClassifier(), store=InspectionStore.open(cfg.db_url()))
    line = station.parts.outputs[-1]
    assert isinstance(line, OpcUaLine)
    with station_api(cfg, station):
        station.start()
        assert line.wait_ready(20)
        seen = run_client(_plc(line.endpoint_url(), pki))
        assert station.stop(30)
    row = {r.part_ref: r for r in stored_rows(tmp_path / "data")}["PLC-7"]
    assert seen["part_id"] == row.part_id and seen["verdict"] == row.verdict.value
    for answer in (seen["by_id"], seen["by_ref"]):
        result_id, part_ref, verdict, status, result_json = answer
        assert (result_id, part_ref, verdict, status) == (row.part_id, "PLC-7", row.verdict.value,
                                                          row.status.value)
        message = json.loads(result_json)
        assert message["part_id"] == row.part_id and message["scores"] == pytest.approx(row.scores)
    assert seen["errors"] == ["BadNotFound", "BadTypeMismatch", "BadArgumentsMissing"]
    assert seen["refused"] == [True, True, True]
    assert line.lookups == 2 and line.state().triggers == 1


def test_a_missing_password_keeps_the_server_from_serving(tmp_path, pki, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)
    cfg = _config(tmp_path, security={"certificate": str(pki["server"][0]),
                                      "private_key": str(pki["server"][1]), "username": "plc",
                                      "password_env": PASSWORD_ENV}, retry_s=60)
    line = OpcUaLine.from_config(cfg.lineio[0], _context(cfg))
    line.open()
    try:
        assert not line.wait_ready(3) and line.failures == 1 and not line.state().connected
    finally:
        line.close()


def _context(cfg):
    from inspector.lineio.base import LineContext

    return LineContext(cfg.station.id, cfg.db_url())


def test_listening_beyond_loopback_needs_security_or_allow_insecure(pki):
    def lineio(**line):
        return parse_config({"source": {"type": "folder", "path": "x"},
                             "lineio": [{"type": "opcua", **line}]})

    with pytest.raises(ConfigValidationError) as err:
        lineio(endpoint="opc.tcp://0.0.0.0:4840")
    assert "no security" in err.value.issues[0] and "allow_insecure" in err.value.issues[0]
    with pytest.raises(ConfigValidationError) as err:
        lineio(endpoint="opc.tcp://0.0.0.0:4840", allow_remote=True)
    assert "allow_remote is gone" in err.value.issues[0]
    secured = lineio(endpoint="opc.tcp://0.0.0.0:4840", security={
        "certificate": str(pki["server"][0]), "private_key": str(pki["server"][1])})
    assert secured.lineio[0].security.username is None
    assert lineio(endpoint="opc.tcp://0.0.0.0:4840", allow_insecure=True).lineio[0].allow_insecure


def test_check_config_names_missing_certificate_files_and_an_unset_password(tmp_path, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    cfg = parse_config({"source": {"type": "folder", "path": "x"}, "trigger": {"type": "external"},
                        "lineio": [{"type": "opcua", "security": {
                            "certificate": str(tmp_path / "none.pem"),
                            "private_key": str(tmp_path), "trusted_clients": str(tmp_path / "no"),
                            "username": "plc", "password_env": PASSWORD_ENV}}]})
    problems = lineio_problems(cfg)
    assert problems == [
        f"lineio.0.security.certificate: {tmp_path / 'none.pem'} is not a readable file",
        f"lineio.0.security.private_key: {tmp_path} is not a readable file",
        f"lineio.0.security.trusted_clients: {tmp_path / 'no'} is not a folder",
        f"lineio.0.security.username: the password variable {PASSWORD_ENV} is unset or empty"]
