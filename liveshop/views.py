from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.static import serve


@never_cache
def healthz(request):
    """For load balancers and docker-compose: 200 when the database and cache answer."""
    checks = {}
    try:
        connection.ensure_connection()
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash: this page exists to say what is down
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        if hasattr(cache, "available"):  # Redis behind a fallback: ask Redis itself
            checks["cache"] = "ok" if cache.available() else "error: Redis unavailable"
        else:
            cache.set("healthz", "ok", timeout=5)
            checks["cache"] = "ok" if cache.get("healthz") == "ok" else "error: no read-back"
    except Exception as exc:
        checks["cache"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )


def serve_media(request, path: str):
    """Uploaded images (re-encoded on the way in, see liveshop/images.py). MEDIA_ROOT is read
    per request so tests and deployments that move it are honoured."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
