"""The library's own error types: problems with the user's input, reported by the CLI as one line.

Every error a user can cause by what they pass in (a config key or value, a dataset, a work
directory, a checkpoint that does not match) is a ``MiVaeError`` raised where the input is
validated. ``mi_vae.main`` catches this family only, so a bug in the library or in a user's method
(an ``AttributeError`` inside ``losses``, say) keeps its traceback.
"""

from __future__ import annotations

import errno

#: OS errors that mean the storage refused a write (full disk, quota, file size limit, read-only): the CLI
#: reports them in one line like a ``MiVaeError``; a figure or evaluator never swallows them as its own failure
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class MiVaeError(Exception):
    """Base of the errors caused by the user's input (one line at the CLI, exit status 1)."""


class ConfigError(MiVaeError, ValueError):
    """A config key, value or combination that cannot work; the message names the valid choices."""


def check_keys(section: str, given, valid) -> None:
    """``ConfigError`` naming the first unknown key of ``given`` and the ``valid`` ones."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(f"unknown {section} setting {unknown[0]!r}; valid: {', '.join(sorted(valid)) or '(none)'}")


__all__ = ["STORAGE_FULL", "ConfigError", "MiVaeError", "check_keys"]
