"""``kafkaish certs``: a development CA, a server certificate and client certificates (PEM).

    kafkaish certs --out certs --host localhost --host 127.0.0.1 --client alice
    kafkaish serve --listener SSL://127.0.0.1:9093 --ssl-cert certs/server.pem \\
        --ssl-key certs/server-key.pem --ssl-ca certs/ca.pem --ssl-client-auth required

Files: ``ca.pem``/``ca-key.pem`` (reused when present, so clients can be added later),
``server.pem``/``server-key.pem`` (subject alternative names: the hosts), and per client
``client-NAME.pem``/``client-NAME-key.pem`` (subject ``CN=NAME``, so the broker's principal is
``User:CN=NAME``). Keys are ECDSA P-256, unencrypted: for development only. ``cryptography``
is imported when the command runs.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kafkaish.cli.client import CliError

__all__ = ["CertFiles", "certs", "write_certs"]


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    ca_key: Path
    server: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]  # name -> (certificate, key)


def _crypto() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise CliError("kafkaish certs needs the cryptography package: pip install cryptography") from None
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _write_key(path: Path, key: Any) -> None:
    _, _, serialization, _, _, _ = _crypto()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: Any) -> None:
    _, _, serialization, _, _, _ = _crypto()
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(subject: Any, key: Any, issuer: Any, issuer_key: Any, days: int, extensions: list[tuple[Any, bool]]) -> Any:
    x509, hashes, _, _, _, _ = _crypto()
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _load_or_make_ca(out: Path, days: int) -> tuple[Any, Any]:
    x509, _, serialization, ec, _, NameOID = _crypto()
    ca_path, key_path = out / "ca.pem", out / "ca-key.pem"
    if ca_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kafkaish"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "kafkaish development CA")])
    cert = _issue(name, key, name, key, days, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                       decipher_only=False), True),
    ])
    _write_cert(ca_path, cert)
    _write_key(key_path, key)
    return cert, key


def _leaf(common_name: str, ca: Any, ca_key: Any, days: int, hosts: list[str] | None) -> tuple[Any, Any]:
    x509, _, _, ec, ExtendedKeyUsageOid, NameOID = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    extensions: list[tuple[Any, bool]] = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    if hosts is not None:
        names: list[Any] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        extensions += [(x509.SubjectAlternativeName(names), False),
                       (x509.ExtendedKeyUsage([ExtendedKeyUsageOid.SERVER_AUTH]), False)]
    else:
        extensions.append((x509.ExtendedKeyUsage([ExtendedKeyUsageOid.CLIENT_AUTH]), False))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return _issue(subject, key, ca.subject, ca_key, days, extensions), key


def write_certs(out: str | Path, hosts: list[str], clients: list[str], days: int = 825) -> CertFiles:
    """Write (or reuse) the CA, a server certificate for ``hosts`` and one certificate per client name."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _load_or_make_ca(out, days)
    server, server_key = _leaf(hosts[0], ca, ca_key, days, hosts)
    _write_cert(out / "server.pem", server)
    _write_key(out / "server-key.pem", server_key)
    written: dict[str, tuple[Path, Path]] = {}
    for name in clients:
        cert, key = _leaf(name, ca, ca_key, days, None)
        written[name] = (out / f"client-{name}.pem", out / f"client-{name}-key.pem")
        _write_cert(written[name][0], cert)
        _write_key(written[name][1], key)
    return CertFiles(out / "ca.pem", out / "ca-key.pem", out / "server.pem", out / "server-key.pem", written)


@click.command("certs", context_settings={"max_content_width": 100})
@click.option("--out", "out", default="kafkaish-certs", show_default=True, metavar="DIR",
              help="Directory to write the PEM files to (its CA is reused when present).")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Host name or IP address the server certificate is for, repeatable [default: localhost, 127.0.0.1].")
@click.option("--client", "clients", multiple=True, metavar="NAME",
              help="Write a client certificate with subject CN=NAME (principal User:CN=NAME), repeatable.")
@click.option("--days", default=825, show_default=True, type=click.IntRange(1, 36500), help="Validity in days.")
def certs(out: str, hosts: tuple[str, ...], clients: tuple[str, ...], days: int) -> None:
    """Write a development CA, a server certificate and client certificates (PEM) for SSL listeners."""
    for name in clients:
        if not name or "/" in name or name.startswith("."):
            raise CliError(f"client name {name!r} cannot be a file name")
    files = write_certs(out, list(hosts) or ["localhost", "127.0.0.1"], list(clients), days)
    click.echo(f"CA:     {files.ca} (key {files.ca_key})")
    click.echo(f"server: {files.server} (key {files.server_key})")
    for name, (cert, key) in files.clients.items():
        click.echo(f"client: {cert} (key {key}), principal User:CN={name}")
    click.echo(f"serve:  kafkaish serve --listener SSL://127.0.0.1:9093 --ssl-cert {files.server} "
               f"--ssl-key {files.server_key} --ssl-ca {files.ca}")
