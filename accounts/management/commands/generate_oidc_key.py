import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management.base import BaseCommand


def new_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class Command(BaseCommand):
    help = (
        "Write a new RSA signing key for the OpenID Connect provider (PEM, mode 600). "
        "Does nothing if the file exists, unless --force. To rotate: generate a new file and list "
        "it first in OIDC_PRIVATE_KEY_FILES, keeping the old one second until its tokens expire."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default="var/oidc-key.pem")
        parser.add_argument("--force", action="store_true", help="Overwrite an existing file.")

    def handle(self, *args, path, force, **options):
        target = Path(path)
        if target.exists() and not force:
            self.stdout.write(f"{target} exists; keeping it.")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_private_key_pem())
        self.stdout.write(f"Wrote a new OpenID Connect signing key to {target}.")
