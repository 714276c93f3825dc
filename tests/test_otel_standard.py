"""The standard OpenTelemetry variables (what the OpenTelemetry Operator injects): a base
endpoint and headers for both signals, and `*_INSECURE` never turning off certificate checks
for https. Against real OTLP/HTTP receivers on loopback, plain and TLS."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from conftest import run_cli
from otlp import Receiver

IDENTITY = ["--workflow-name=l0_to_l1_vbi", "--workflow-version=3.0.0", "--task-id=fit"]


def run_traced(**env: str):
    return run_cli("run-task", "sample_tasks:Traced", *IDENTITY, **env)


def test_the_base_endpoint_and_headers_reach_both_signals(receiver):
    completed = run_traced(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20otel-canary-77,X-Team=imaging",
    )
    assert completed.returncode == 0, completed.stderr
    assert len(receiver.wait_for_spans(3)) >= 3
    assert receiver.metric_points()  # /v1/metrics was appended for the metrics signal too
    assert {h.get("authorization") for h in receiver.headers} == {"Bearer otel-canary-77"}
    assert {h.get("x-team") for h in receiver.headers} == {"imaging"}
    assert "otel-canary-77" not in completed.stdout + completed.stderr


def test_a_signal_endpoint_and_headers_win_over_the_base(receiver):
    other = Receiver()
    try:
        completed = run_traced(
            OTEL_EXPORTER_OTLP_ENDPOINT=other.url,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.url}/v1/traces",
            OTEL_EXPORTER_OTLP_HEADERS="X-Who=base",
            OTEL_EXPORTER_OTLP_TRACES_HEADERS="X-Who=traces",
        )
        assert completed.returncode == 0, completed.stderr
        assert receiver.wait_for_spans(3) and not receiver.metrics
        assert other.metrics and not other.traces
        assert {h["x-who"] for h in receiver.headers} == {"traces"}
        assert {h["x-who"] for h in other.headers} == {"base"}
    finally:
        other.close()


def test_headers_are_secrets_in_settings_and_malformed_ones_are_named():
    shown = run_cli("settings", OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20s3cr3t-otel")
    assert shown.returncode == 0 and "s3cr3t-otel" not in shown.stdout
    bad = run_cli("settings", OTEL_EXPORTER_OTLP_HEADERS="no-equals-sign-s3cr3t")
    assert bad.returncode == 1 and "OTEL_EXPORTER_OTLP_HEADERS" in bad.stderr
    assert "key=value" in bad.stderr and "s3cr3t" not in bad.stderr


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(cert_file), str(key_file)


def test_insecure_never_turns_off_certificate_checks_for_https(certificate):
    tls = Receiver(tls=certificate)
    try:
        untrusted = run_traced(OTEL_EXPORTER_OTLP_ENDPOINT=tls.url,
                               OTEL_EXPORTER_OTLP_TRACES_INSECURE="true")  # fmt: skip
        assert untrusted.returncode == 0, untrusted.stderr  # telemetry never fails a task
        assert tls.traces == []  # the self-signed certificate was refused
        trusted = run_traced(OTEL_EXPORTER_OTLP_ENDPOINT=tls.url,
                             OTEL_EXPORTER_OTLP_CERTIFICATE=certificate[0])  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        assert len(tls.wait_for_spans(3)) >= 3  # over https, verified against the given CA
    finally:
        tls.close()
