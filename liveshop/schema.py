"""The API's OpenAPI description, beyond what drf-spectacular infers by itself.

- AutoSchema documents, on every operation, the errors DRF itself answers (invalid input,
  a bad token, a refused permission, an unknown id...) in the one error shape, so a client
  knows every status it may get, and schemathesis (tests/test_schemathesis.py) holds the
  API to it.
- document_throttling adds the 429 every operation may answer (liveshop/throttling.py).

Apart from liveshop.api because drf_spectacular imports DRF's generic views, whose class
attributes import liveshop.api (the pagination class) while they load; and apart from the
docs views (liveshop/api_docs.py), because drf_spectacular.views names this class while it
loads.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import (
    SAFE_METHODS,
    AllowAny,
    IsAuthenticated,
    IsAuthenticatedOrReadOnly,
)
from rest_framework.settings import api_settings

from liveshop.api import ERROR_DESCRIPTIONS, ErrorSerializer

FRAMEWORK_ERRORS = {
    **ERROR_DESCRIPTIONS,
    400: "Invalid input (`invalid`, see `fields`), or a body that cannot be read (`parse_error`).",
    401: "No credentials where they are needed, or an invalid or expired token "
    "(`token_not_valid`).",
    403: "Not allowed (`permission_denied`), or a session write without its CSRF token "
    "(`csrf_failed`).",
    404: "No such object (or not yours), or a page past the end.",
    415: "The body's Content-Type is not one this endpoint reads.",
}
# Permissions that refuse only visitors (answered 401, since JWT comes first) or nobody.
_VISITOR_ONLY_PERMISSIONS = (AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly)
# Pagination parameters that never answer 400 (a page past the end, or a bad cursor, is a
# 404); `page_size` does (liveshop.api.PageSizeParameter).
_PAGINATION_PARAMETERS = {"page", "cursor"}


class SignInJWTScheme(SimpleJWTScheme):
    """Our Bearer authentication (it also refuses logged-out sign-ins) is simplejwt's scheme."""

    target_class = "accounts.tokens.SignInJWTAuthentication"


class AutoSchema(SpectacularAutoSchema):
    def map_parsers(self) -> list[str]:
        """JSON in (docs/api.md); multipart/form-data too only where a view takes files and
        says so with its own parser_classes. DRF still reads a form body anywhere (the site's
        pages and the tests post them), but apps are told to send JSON."""
        media_types = super().map_parsers()
        if self.view.parser_classes == api_settings.DEFAULT_PARSER_CLASSES:
            return [media_type for media_type in media_types if media_type == "application/json"]
        return media_types

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._allow_empty_filters(operation)
        responses = operation["responses"]
        for status in sorted(self._framework_errors(operation)):
            if str(status) not in responses:
                described = OpenApiResponse(ErrorSerializer, description=FRAMEWORK_ERRORS[status])
                responses[str(status)] = self._get_response_for_code(described, str(status))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _allow_empty_filters(self, operation: dict) -> None:
        """django-filter takes an empty value (`?status=`, as an HTML form sends an unset
        field) as the filter left out: say so, or the schema would promise a 400 for it."""
        filterset = getattr(self.view, "filterset_class", None)
        if filterset is None:
            return
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in filterset.base_filters:
                parameter["allowEmptyValue"] = True

    def _framework_errors(self, operation: dict) -> set[int]:
        """The statuses DRF answers by itself for this view and method."""
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        has_body = "requestBody" in operation
        authenticators = self.view.get_authenticators()
        permissions = self.view.get_permissions()
        errors = set()
        if has_body or query - _PAGINATION_PARAMETERS:
            errors.add(400)  # the body or a filter failed validation
        if has_body:
            errors.add(415)
        if authenticators or not all(isinstance(p, AllowAny) for p in permissions):
            errors.add(401)
        if (
            self.method not in SAFE_METHODS
            and any(isinstance(a, SessionAuthentication) for a in authenticators)
        ) or not all(isinstance(p, _VISITOR_ONLY_PERMISSIONS) for p in permissions):
            errors.add(403)
        if any(p["in"] == "path" for p in parameters) or "page" in query:
            errors.add(404)
        # Refusals a view's own logic answers (a rejected token, a state conflict), which
        # nothing above can see: the view lists them in `documented_errors`.
        # A viewset may list them per action: {"end": {409}, ...}.
        documented = getattr(self.view, "documented_errors", ())
        if isinstance(documented, dict):
            documented = documented.get(getattr(self.view, "action", None), ())
        errors |= set(documented)
        return errors


def document_throttling(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every operation may answer 429 (settings'
    API_THROTTLE_RATES), in the error shape and with Retry-After; say so in the schema."""
    result.setdefault("components", {}).setdefault("responses", {})["Throttled"] = {
        "description": "Too many requests: wait Retry-After seconds before trying again.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before the next request.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault(
                    "429", {"$ref": "#/components/responses/Throttled"}
                )
    return result
