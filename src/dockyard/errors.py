"""The one error hierarchy.

Every error a user can cause or fix derives from :class:`DockyardError`. Each class
states once its HTTP status and CLI exit code; the HTTP layer turns it into
``{"error": ..., "code": ..., "details": [...]}`` and the CLI into one line on stderr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """The exit codes of the ``dockyard`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    BUNDLE = 3
    TRAINING = 4
    DOCKER = 5
    DATA = 6
    DRIFT = 7
    INTERRUPTED = 130


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "any other error",
    ExitCode.USAGE: "usage: a wrong argument or option, or no such file, example or model",
    ExitCode.BUNDLE: "bundle refused: tampered, incomplete, untrusted types or other versions",
    ExitCode.TRAINING: "training, importing or saving a model failed",
    ExitCode.DOCKER: "Docker: no engine, or it refused; an image cannot be made or verified",
    ExitCode.DATA: "input data refused: a malformed CSV, or a value the schema refuses",
    ExitCode.DRIFT: "monitor: drift, a feature or the predictions crossed a threshold",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}
"""What each exit code means: the one table (``dockyard --help`` shows it, the README mirrors it)."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason one input field was refused."""

    field: str | None
    reason: str
    row: int | None = None
    """Index of the record in a JSON batch (0-based)."""
    line: int | None = None
    """Line number in a CSV file (the header is line 1)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "reason": self.reason}
        if self.row is not None:
            out["row"] = self.row
        if self.line is not None:
            out["line"] = self.line
        return out

    def __str__(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        where = f"line {self.line}: " if self.line is not None else where
        return f"{where}{self.field}: {self.reason}" if self.field else f"{where}{self.reason}"


class DockyardError(Exception):
    """Base class of every error Dockyard reports to a user."""

    status_code: ClassVar[int] = 500
    exit_code: ClassVar[int] = ExitCode.ERROR
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def details(self) -> Sequence[FieldError]:
        return ()

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": str(self), "code": self.code}
        if self.details:
            body["details"] = [d.as_dict() for d in self.details]
        return body


# --- bundles -----------------------------------------------------------------------------


class BundleError(DockyardError):
    """A bundle cannot be read, trusted or used here."""

    exit_code = ExitCode.BUNDLE
    code = "bundle_error"


class BundleNotFound(BundleError):
    exit_code = ExitCode.USAGE
    code = "bundle_not_found"


class BundleIntegrityError(BundleError):
    code = "bundle_integrity"


class BundleSchemaError(BundleError):
    code = "bundle_schema"


class EnvironmentMismatch(BundleError):
    code = "environment_mismatch"


class UntrustedTypes(BundleError):
    code = "untrusted_types"

    def __init__(self, message: str, *, hint: str | None = None, types: Sequence[str] = ()) -> None:
        super().__init__(message, hint=hint)
        self.types = tuple(types)
        """The unreviewed types the model needs: trusting them lets it load."""


# --- training and saving -----------------------------------------------------------------


class TrainingError(DockyardError):
    exit_code = ExitCode.TRAINING
    code = "training_error"


# --- requests ----------------------------------------------------------------------------


class ModelNotFound(DockyardError):
    status_code = 404
    exit_code = ExitCode.USAGE
    code = "model_not_found"


class BadRequest(DockyardError):
    status_code = 400
    exit_code = ExitCode.DATA
    code = "bad_request"


class InvalidInput(DockyardError):
    """Input that parsed but does not match the model's schema (HTTP 422)."""

    status_code = 422
    exit_code = ExitCode.DATA
    code = "invalid_input"

    def __init__(self, errors: Sequence[FieldError], *, message: str | None = None) -> None:
        self.errors = tuple(errors)
        if message is None:
            shown = "; ".join(str(e) for e in self.errors[:3])
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            message = f"Invalid input: {shown}{more}"
        super().__init__(message)

    @property
    def details(self) -> Sequence[FieldError]:
        return self.errors


class PayloadTooLarge(DockyardError):
    status_code = 413
    exit_code = ExitCode.USAGE
    code = "payload_too_large"


class UnsupportedMediaType(DockyardError):
    status_code = 415
    exit_code = ExitCode.USAGE
    code = "unsupported_media_type"


class Unauthorized(DockyardError):
    status_code = 401
    exit_code = ExitCode.USAGE
    code = "unauthorized"


class Forbidden(DockyardError):
    status_code = 403
    exit_code = 2
    code = "forbidden"


class TooManyAttempts(DockyardError):
    """Too many failed sign-ins or wrong API keys from one client address (HTTP 429)."""

    status_code = 429
    exit_code = 2
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many wrong API keys or failed sign-ins from this address; "
            f"try again in {retry_after} s.",
            hint="Check the key you send.",
        )
        self.retry_after = retry_after


class RequestTimeout(DockyardError):
    status_code = 408
    exit_code = ExitCode.USAGE
    code = "request_timeout"


class NotReady(DockyardError):
    status_code = 503
    code = "not_ready"


class Conflict(DockyardError):
    """The request is fine but the server is not set up for it, or the model cannot take
    it (HTTP 409): feedback without a prediction log, or for a clustering model."""

    status_code = 409
    exit_code = ExitCode.USAGE
    code = "conflict"


# --- command line and packaging ------------------------------------------------------------


class UsageError(DockyardError):
    exit_code = ExitCode.USAGE
    code = "usage"


class DockerError(DockyardError):
    """The Docker engine is unreachable or refused an operation."""

    exit_code = ExitCode.DOCKER
    code = "docker_error"


class PackagingError(DockyardError):
    """A lock, wheelhouse, build context or image reference cannot be made."""

    exit_code = ExitCode.DOCKER
    code = "packaging_error"
