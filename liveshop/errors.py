"""Domain errors with stable codes, shared by pages, the API and (later) the room socket."""


class ApplicationError(Exception):
    """A refusal the user can understand and act on. `code` is a stable machine-readable
    name (documented in docs/api.md); `message` is the human text; `status` the HTTP status."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    status = 403


class NotFoundError(ApplicationError):
    code = "not_found"
    status = 404
