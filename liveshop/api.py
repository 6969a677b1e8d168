"""API conventions shared by every app: the error shape and pagination.

Every 4xx answer has one shape:
    {"error": {"code": "<stable_code>", "message": "<human text>", "fields": {...}}}
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.authentication import CSRFCheck
from rest_framework.fields import get_error_detail
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from liveshop.errors import ApplicationError


class PageSizeParameter:
    """`?page_size=` for a pagination class: a whole number from 1, served up to
    max_page_size (docs/api.md). DRF would quietly serve the default page for `abc`, `0` or
    `-5`; the client is told instead (400 `invalid`, the field `page_size`). An empty value is
    the parameter left out, as for the filters."""

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param, "")
        if value == "":
            return self.page_size
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [_("Enter a whole number from 1.")]}
            )
        return min(int(value), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
                parameter["allowEmptyValue"] = True
        return parameters


class StandardPagination(PageSizeParameter, PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class VisitorCsrfCheck(BasePermission):
    """DRF checks CSRF only for users signed in by session. A visitor's cart lives in the
    session too, so its writes get the same check: another site cannot fill it."""

    message = gettext_lazy("CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.")

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or request.user.is_authenticated:
            return True
        check = CSRFCheck(lambda _request: None)
        check.process_request(request)  # reads the csrftoken cookie
        if check.process_view(request, None, (), {}) is not None:
            # Raised here: returning False would answer 401 "not authenticated".
            raise exceptions.PermissionDenied(self.message, code="csrf_failed")
        return True


class BoundedListField(serializers.ListField):
    """A ListField that refuses a list over `max_length` before looking at its items: DRF's
    own checks the length only after validating every item, so a client posting a million
    ids would cost a million validations before the refusal."""

    def to_internal_value(self, data):
        if (
            self.max_length is not None
            and isinstance(data, list | tuple)
            and len(data) > self.max_length
        ):
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code (docs/api.md).")
    message = serializers.CharField(help_text="Human text, fit to show.")
    fields = serializers.DictField(
        help_text="Invalid input fields and their messages; {} otherwise."
    )


class ErrorSerializer(serializers.Serializer):
    """The one shape of every 4xx answer, for the OpenAPI schema."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input, or a refusal with a stable code.",
    401: "No credentials, or an invalid token.",
    403: "Not allowed.",
    404: "No such object (or not yours).",
    409: "The object's state does not allow it.",
    502: "The payment provider could not be reached (`payment_unavailable`); nothing was "
    "charged and the order is kept, pending: try again later.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """extend_schema `responses` entries for the given 4xx statuses, all in the error shape."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(status, ""))
        for status in statuses
    }


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _as_api_exception(exc: Exception) -> Exception:
    """Translate Django's own exceptions into DRF's so one code path renders them."""
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=get_error_detail(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, SuspiciousOperation):
        # e.g. RequestDataTooBig from a huge multipart form.
        return exceptions.ParseError(str(exc) or _("The request could not be read."))
    return exc


def _first_code(codes: Any, default: str) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict) and "code" in codes and isinstance(codes["code"], str):
        return codes["code"]
    return default


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)

    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        detail = response.data
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = _validation_summary(fields)
        response.data = error_body("invalid", message, fields)
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        # simplejwt puts a dict in `detail` ({"detail": ..., "code": ..., "messages": ...}).
        message = detail.get("detail", exc.default_detail) if isinstance(detail, dict) else detail
        code = _first_code(exc.get_codes(), exc.default_code)
        response.data = error_body(code, str(message))
    return response


def _validation_summary(fields: dict) -> str:
    for name, errors in fields.items():
        first = errors[0] if isinstance(errors, list) and errors else errors
        if isinstance(first, dict):
            return _("Some fields are invalid.")
        label = "" if name == "non_field_errors" else f"{name}: "
        return f"{label}{first}"
    return _("Some fields are invalid.")


@csrf_exempt  # answers every method with the same refusal; there is nothing to protect
def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any /api/ URL that matches no endpoint (an unknown path, or an id the route's pattern
    refuses, such as /api/v1/products/1.5/): the API's JSON 404, never the site's HTML page.

    Being a route, it also stands in for CommonMiddleware's APPEND_SLASH, which only acts on
    URLs that match nothing: a GET without the trailing slash is redirected as before."""
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            if request.method in {"GET", "HEAD"}:
                query = request.META.get("QUERY_STRING", "")
                return HttpResponsePermanentRedirect(
                    request.path + "/" + (f"?{query}" if query else "")
                )
            message = _("No such API endpoint: did you mean %(path)s/ (with the slash)?") % {
                "path": request.path
            }
            return JsonResponse(error_body("not_found", message), status=404)
    return JsonResponse(error_body("not_found", _("No such API endpoint.")), status=404)
