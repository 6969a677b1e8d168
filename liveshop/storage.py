from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files for production. ES module imports are rewritten to the
    hashed names too, so a browser never runs a new room.js with a stale cached cart.js."""

    support_js_module_import_aggregation = True
