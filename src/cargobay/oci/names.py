"""Repository name and tag grammar from the distribution spec."""

from __future__ import annotations

import re

from cargobay.oci.errors import OCIError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
# Many clients cap host + "/" + name at 255 characters; leave room for a host name.
MAX_NAME_LENGTH = 255
#: The project of repositories whose name has one component (`busybox`), as on Docker Hub.
DEFAULT_PROJECT = "library"


def check_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise OCIError("NAME_INVALID", "invalid repository name", {"name": name})
    return name


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise OCIError("TAG_INVALID", "invalid tag", {"tag": tag})
    return tag


def project_of(repository: str) -> str:
    """The project a repository belongs to: the first component of its name."""
    head, slash, _ = repository.partition("/")
    return head if slash else DEFAULT_PROJECT
