"""The same code on a real PostgreSQL: migrations apply, demo data loads, filters work and
the database itself refuses a negative stock or a zero price."""

import pytest

from tests.helpers import child_env, manage, python

CHECKS = """
import django
django.setup()
from django.db import IntegrityError, transaction
from catalog.filters import ProductFilter
from catalog.models import Product
from catalog.selectors import products_on_sale
query = {"q": "MUG", "max_price": "40", "ordering": "-price"}
found = ProductFilter(query, queryset=products_on_sale()).qs
print("found", [p.name for p in found])
product = Product.objects.first()
for change in ({"stock": -1}, {"price": 0}):
    try:
        with transaction.atomic():
            Product.objects.filter(pk=product.pk).update(**change)
        print("accepted", change)
    except IntegrityError:
        print("refused", list(change))
"""


@pytest.mark.postgres
def test_migrate_seed_and_query_on_a_real_postgresql(postgres_url, tmp_path):
    env = child_env(DATABASE_URL=postgres_url, DJANGO_MEDIA_ROOT=str(tmp_path))
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr
    result = python(CHECKS, env=env)
    assert result.returncode == 0, result.stderr
    assert "found ['Stoneware mug set (4)']" in result.stdout
    assert "refused ['stock']" in result.stdout
    assert "refused ['price']" in result.stdout
