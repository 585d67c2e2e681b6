"""A throw-away certificate authority and a broker certificate for 127.0.0.1, made with the ``openssl`` CLI.

Tests that check TLS need a CA the client trusts and a server certificate whose subjectAltName matches the address
the client dials (Python's ``ssl`` checks the IP SAN), plus a second CA the client must *not* trust.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streamer.devservices.mosquitto import BrokerTls

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
SERVER_EXTENSIONS = (
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    "basicConstraints=CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth\n"
)


@dataclass(frozen=True)
class BrokerCertificates:
    """PEM files: the CA that signed the broker's certificate, the broker's material, and an unrelated CA."""

    broker: BrokerTls
    ca_file: Path
    other_ca_file: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and its key: ``(<name>.crt, <name>.key)``."""
    _openssl(
        "req", "-x509", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
        "-subj", f"/CN=Vigil test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder,
    )  # fmt: skip
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_certificates(folder: Path) -> BrokerCertificates:
    """A CA, a broker certificate for 127.0.0.1/localhost signed by it, and a second CA that signed nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = make_ca(folder, "ca")
    other_ca, _ = make_ca(folder, "other-ca")
    (folder / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl("req", *KEY, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", ca_cert.name, "-CAkey", ca_key.name, "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=folder,
    )  # fmt: skip
    broker = BrokerTls(ca_file=ca_cert, cert_file=folder / "server.crt", key_file=folder / "server.key")
    return BrokerCertificates(broker=broker, ca_file=ca_cert, other_ca_file=other_ca)
