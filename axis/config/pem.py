"""The TLS files the configuration names, read at load time: a file that exists but holds no certificate, or a
key that is encrypted or belongs to another certificate, is a configuration error naming the key, not an
exception of OpenSSL's when axisd starts (``check-config`` passed such files before)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from axis import sources
from axis.config._base import ConfigError


def check_certificates(path: Path, key: str, files: tuple[Path, ...]) -> None:
    for file in files:
        _certificates(path, key, file)


def check_pair(path: Path, cert_key: str, key_key: str, cert: Path | None, key: Path | None) -> None:
    """``cert`` holds PEM certificates (the first one axis's own) and ``key`` its unencrypted private key."""
    if cert is None or key is None:
        return
    first = _certificates(path, cert_key, cert)[0]
    exposed = sources.exposed_secret(key)
    if exposed is not None:
        raise ConfigError(path, key_key, exposed)
    try:
        private = serialization.load_pem_private_key(sources.read_bytes(key), password=None)
    except OSError as exc:
        raise ConfigError(path, key_key, f"{key}: {exc.strerror}") from None
    except TypeError:
        raise ConfigError(path, key_key, f"{key} is encrypted: axisd needs the key without a passphrase "
                                         "(keep the file readable by axisd only)") from None
    except ValueError:
        raise ConfigError(path, key_key, f"{key} holds no PEM private key") from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*raw) != first.public_key().public_bytes(*raw):
        raise ConfigError(path, key_key, f"{key} is not the key of the certificate in {cert}")


def _certificates(path: Path, key: str, file: Path) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(sources.read_bytes(file))
    except OSError as exc:
        raise ConfigError(path, key, f"{file}: {exc.strerror}") from None
    except ValueError:
        found = []
    if not found:
        raise ConfigError(path, key, f"{file} holds no PEM certificate")
    return found
