from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import seller_required
from catalog import selectors, services
from catalog.filters import ProductFilter
from catalog.forms import ProductForm
from catalog.models import Product
from liveshop.errors import ApplicationError
from liveshop.forms import add_service_error
from liveshop.pagecache import anonymous_page_cache

PRODUCTS_PER_PAGE = 12


@anonymous_page_cache
def product_list(request):
    product_filter = ProductFilter(request.GET or None, queryset=selectors.products_on_sale())
    if product_filter.is_bound and not product_filter.is_valid():
        # Apply the filters that make sense and say which were ignored (the template lists
        # the errors), rather than dropping every filter for one typo.
        errors = product_filter.errors
        usable = {key: request.GET.getlist(key) for key in request.GET if key not in errors}
        usable_filter = ProductFilter(
            QueryDict(urlencode(usable, doseq=True)), queryset=selectors.products_on_sale()
        )
        products = usable_filter.qs if usable_filter.is_valid() else selectors.products_on_sale()
    else:
        products = product_filter.qs
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "catalog/product_list.html",
        {"filter": product_filter, "page": page, "query_string": query.urlencode()},
    )


def product_detail(request, pk: str, slug: str):
    visible = Q(is_active=True, seller__is_active=True)
    if request.user.is_authenticated:
        visible |= Q(seller=request.user)
    product = get_object_or_404(
        Product.objects.filter(visible).select_related("seller", "category"), pk=pk
    )
    if slug != product.slug:
        return redirect(product, permanent=True)
    return render(request, "catalog/product_detail.html", {"product": product})


@seller_required
def seller_products(request):
    products = selectors.products_of_seller(seller=request.user).order_by("-created_at")
    page = Paginator(products, 25).get_page(request.GET.get("page"))
    return render(request, "catalog/seller_products.html", {"page": page})


@seller_required
@require_http_methods(["GET", "POST"])
def seller_product_create(request):
    form = ProductForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            fields = {k: v for k, v in form.cleaned_data.items() if k != "stock_seen"}
            product = services.product_create(seller=request.user, **fields)
        except (ValidationError, ApplicationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” is on the shelf.") % {"name": product.name})
            return redirect("catalog:seller-products")
    return render(request, "catalog/seller_product_form.html", {"form": form, "product": None})


@seller_required
@require_http_methods(["GET", "POST"])
def seller_product_edit(request, pk: str):
    product = get_object_or_404(selectors.products_of_seller(seller=request.user), pk=pk)
    initial = {
        "name": product.name,
        "description": product.description,
        "category": product.category_id,
        "price": product.price,
        "currency": product.currency,
        "stock": product.stock,
        "stock_seen": product.stock,
        "image": product.image,
        "is_active": product.is_active,
    }
    form = ProductForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        if changes.get("image") == product.image:
            del changes["image"]  # no new file, nothing cleared
        try:
            services.product_update(product=product, actor=request.user, **changes)
        except (ValidationError, ApplicationError) as exc:
            product.refresh_from_db()
            add_service_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” is saved.") % {"name": product.name})
            return redirect("catalog:seller-products")
    return render(request, "catalog/seller_product_form.html", {"form": form, "product": product})


@seller_required
@require_POST
def seller_product_deactivate(request, pk: str):
    product = get_object_or_404(selectors.products_of_seller(seller=request.user), pk=pk)
    services.product_deactivate(product=product, actor=request.user)
    messages.success(
        request,
        _("“%(name)s” is off sale. You can put it back on sale from Edit.")
        % {"name": product.name},
    )
    return redirect("catalog:seller-products")
