from rest_framework.permissions import BasePermission


class IsSeller(BasePermission):
    message = "Only sellers can do this. Become a seller first."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_seller)
