"""Glue between service errors and Django forms."""

from django import forms
from django.core.exceptions import ValidationError

from liveshop.errors import ApplicationError


def add_service_error(form: forms.Form, exc: ValidationError | ApplicationError) -> None:
    """Show a service's refusal on the form: field errors by field, the rest on top."""
    if isinstance(exc, ApplicationError):
        form.add_error(None, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
