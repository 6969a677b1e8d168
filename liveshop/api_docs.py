"""The browsable API docs: /api/docs/ (Swagger UI) and /api/redoc/ (Redoc) draw /api/schema/
with scripts from drf-spectacular-sidecar's static files, never a CDN."""

from django.http import HttpResponse
from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

_REDOC_PAGE = engines["django"].from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
  <title>{{ title }}</title>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="{{ favicon_href }}">
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="{{ schema_url }}"></redoc>
  <script src="{{ redoc_standalone }}"></script>
</body>
</html>
"""
)


# Redoc's sidebar always shows a "by Redocly" logo fetched from their CDN; the policy keeps
# the browser from asking for it (the logo hides itself when it cannot load). Styles are
# inline (styled-components) and the search index runs in a blob: worker.
_REDOC_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


class RedocView(SpectacularRedocView):
    """Redoc from the sidecar's bundle. drf-spectacular's own page also links Google Fonts:
    this one loads nothing from another site (Redoc falls back to the system fonts)."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        data = super().get(request, *args, **kwargs).data
        data["favicon_href"] = SpectacularSwaggerView._swagger_ui_favicon()  # the sidecar's
        response = HttpResponse(_REDOC_PAGE.render(data, request))
        response["Content-Security-Policy"] = _REDOC_CSP
        return response
