"""Run `makemigrations` under the MongoDB settings without a MongoDB server.

Comparing models with migration files needs no database; only Django's "consistent history"
check would connect, so it is skipped here. Used by `make mongo-migrations` (write them) and
by the test that keeps them in step (`--check --dry-run`).

    MONGODB_URI=mongodb://unused python scripts/mongo_makemigrations.py [makemigrations args]
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
os.environ.setdefault("MONGODB_URI", "mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=100")

import django
from django.db.migrations.loader import MigrationLoader

django.setup()
MigrationLoader.check_consistent_history = lambda self, connection: None

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("makemigrations", *settings.MONGO_MIGRATED_APPS, *sys.argv[1:])
