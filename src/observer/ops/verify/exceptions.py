"""Errors of the verify checks.

ObserverError
 +-- OpsError                    observer.ops.exceptions
      +-- VerifyError            the verification could not run (render failed, API unreachable)

A failing check is not an error: it is a FAIL line in the report. VerifyError means the
verification itself could not be carried out; the CLI prints it and exits 2.
"""

from __future__ import annotations

from observer.ops.exceptions import OpsError


class VerifyError(OpsError):
    """The verification could not run (e.g. the Kustomize directory does not render)."""
