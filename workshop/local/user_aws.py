"""The user's own AWS setup, kept apart from the local AWS: no profile or config file of theirs
is read, and an AWS_ENDPOINT_URL of theirs where nothing answers is named as the machine's
problem, with how to mend it."""

from __future__ import annotations

import functools
import socket
from urllib.parse import urlsplit

import boto3
import botocore.session
from botocore.loaders import Loader, create_loader

from workshop.errors import MachineError


def isolated_session() -> boto3.session.Session:
    return boto3.session.Session(botocore_session=isolated_core())


def isolated_core() -> botocore.session.Session:
    """A botocore session that reads nothing of the user's AWS setup: it is not the local AWS's.

    botocore looks each setting up in the environment (AWS_PROFILE, ...), then in the config
    files: a missing profile, or a broken ~/.aws/config, would stop every local call. Its
    `session_vars` replace those look-ups, here with none and no files: each setting is its
    default, or what the clients are given (keys, region)."""
    no_files = ("config_file", "credentials_file")
    lookups = {
        name: (None, None, None if name in no_files else default, convert)
        for name, (_, _, default, convert) in botocore.session.Session.SESSION_VARIABLES.items()
    }
    session = botocore.session.Session(session_vars=lookups)
    session.register_component("data_loader", shared_loader())
    return session


@functools.cache
def shared_loader() -> Loader:
    """The loader of botocore's JSON models for every session here and for moto: each loader
    parses the models it is asked for again (DynamoDB's was parsed four times at each start of
    `up`, the endpoints' twice: a tenth of a second in all)."""
    return create_loader()


def isolate_moto() -> None:
    """Make the sessions moto makes of its own (to list regions and services) isolated too."""
    from moto.core import base_backend
    from moto.core import utils as moto_utils

    base_backend.Session = isolated_session
    moto_utils.Session = isolated_core
    moto_utils.create_loader = shared_loader


def reach(url: str) -> None:
    """Make sure something answers at the user's AWS_ENDPOINT_URL, or say how to mend it."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give it as http://HOST:PORT")
        address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except ValueError as exc:
        why = f"not a URL: {exc}"
    else:
        try:
            with socket.create_connection(address, timeout=5):
                return
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
    raise MachineError(
        f"nothing answers at AWS_ENDPOINT_URL={url} ({why}): start what it names "
        "(LocalStack, DynamoDB Local, ...), or unset AWS_ENDPOINT_URL to use the workshop's "
        "own local AWS (bash: `unset AWS_ENDPOINT_URL`; PowerShell: "
        "`Remove-Item Env:AWS_ENDPOINT_URL`)"
    )
