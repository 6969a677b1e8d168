"""Catalog API: categories and products (public reads, sellers write their own)."""

from decimal import Decimal

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.models import User
from accounts.permissions import IsSeller
from catalog import selectors, services
from catalog.filters import ProductFilter
from catalog.models import Category, Currency, Product


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug"]


class SellerSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name", "shop_name"]


class ProductSerializer(serializers.ModelSerializer):
    category = CategorySerializer()
    seller = SellerSummarySerializer()
    image_url = serializers.SerializerMethodField()
    in_stock = serializers.BooleanField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "price",
            "currency",
            "stock",
            "in_stock",
            "is_active",
            "image_url",
            "category",
            "seller",
            "url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_image_url(self, product: Product) -> str | None:
        if not product.image:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(product.image.url) if request else product.image.url


class ProductInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    stock = serializers.IntegerField(min_value=0, max_value=1_000_000)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all())
    image = serializers.ImageField(required=False)
    is_active = serializers.BooleanField(required=False)


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    permission_classes = [AllowAny]
    pagination_class = None  # a short, staff-curated list
    filter_backends: list = []


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Anyone reads products on sale; a seller creates products and changes only their own
    (another seller's product id answers 404, exactly like a missing one). DELETE takes a
    product off sale rather than erasing it, because orders refer to it."""

    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):
        if self.action in {"list", "retrieve"}:
            return [AllowAny()]
        if self.action in {"create", "mine"}:
            return [IsSeller()]
        return [IsAuthenticated()]

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return selectors.products_on_sale()
        if self.action == "retrieve":
            # A seller may look at their own product even while it is off sale.
            visible = Q(is_active=True, seller__is_active=True)
            if user.is_authenticated:
                visible |= Q(seller=user)
            return Product.objects.filter(visible).select_related("seller", "category")
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return Product.objects.none()
        return selectors.products_of_seller(seller=user)

    @extend_schema(request=ProductInputSerializer, responses={201: ProductSerializer})
    def create(self, request):
        data = ProductInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_create(seller=request.user, **data.validated_data)
        return Response(self._render(product), status=status.HTTP_201_CREATED)

    @extend_schema(request=ProductInputSerializer, responses={200: ProductSerializer})
    def update(self, request, pk=None):
        return self._change(request, partial=False)

    @extend_schema(request=ProductInputSerializer, responses={200: ProductSerializer})
    def partial_update(self, request, pk=None):
        return self._change(request, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.product_deactivate(product=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: ProductSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def mine(self, request):
        """The signed-in seller's own products, on sale or not."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            ProductSerializer(page, many=True, context={"request": request}).data
        )

    def _change(self, request, *, partial: bool):
        product = self.get_object()
        data = ProductInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        product = services.product_update(
            product=product, actor=request.user, **data.validated_data
        )
        return Response(self._render(product))

    def _render(self, product: Product) -> dict:
        return ProductSerializer(product, context={"request": self.request}).data
