import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Category, Product


def test_seed_demo_creates_accounts_and_products_and_can_run_twice(db, capsys, settings):
    settings.DEBUG = True  # pytest-django turns DEBUG off; seed_demo is for development
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "demo_buyer" in out and "liveshop-demo" in out
    seller = User.objects.get(username="demo_seller")
    assert seller.is_seller and seller.shop_name
    assert User.objects.get(username="demo_buyer").role == User.Role.BUYER
    staff = User.objects.get(username="demo_staff")
    assert staff.is_staff and staff.check_password("liveshop-demo")
    assert User.objects.count() == 3
    assert Category.objects.count() == 5
    products = Product.objects.filter(seller=seller)
    assert products.count() == 12
    assert all(product.image for product in products)


def test_seed_demo_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo")
    assert not User.objects.exists()
