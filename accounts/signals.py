"""Signing out reaches open sockets (docs/realtime.md, close code 4401): the website's logout
closes the sockets of that session; an account deactivated (the admin's change form, a
service, any save) or deleted, or whose password changed, loses all its sockets. The API
logout does it in its service (accounts.services.user_logout_device)."""

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts import services
from accounts.models import User


@receiver(user_logged_out, dispatch_uid="accounts.sockets_on_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed: its key still names the sockets to close.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        services.user_sockets_sign_out(user_id=user.pk, session_key=session_key)


@receiver(pre_save, sender=User, dispatch_uid="accounts.password_change_seen")
def _saving(sender, instance: User, update_fields=None, raw: bool = False, **kwargs) -> None:
    # Whether this save changes the stored password hash, which is what the tokens' `pwv`
    # claim follows (accounts.tokens): set_password() alone would miss the admin's "password
    # -based authentication: disabled" (set_unusable_password) and a hash assigned directly.
    # A hash upgraded at sign-in changes it too: its tokens are refused, so its sockets go.
    changed = False
    if not instance._state.adding and not raw and instance.pk is not None:
        if update_fields is None or "password" in update_fields:
            stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True)
            changed = stored.first() not in (None, instance.password)
    instance._liveshop_password_changed = changed


@receiver(post_save, sender=User, dispatch_uid="accounts.sockets_on_deactivate")
def _saved(sender, instance: User, created: bool, update_fields=None, **kwargs) -> None:
    if created:
        return  # registration: nothing is open yet
    password_changed = getattr(instance, "_liveshop_password_changed", False)
    instance._liveshop_password_changed = False
    if password_changed:
        services.user_sockets_sign_out(user_id=instance.pk)
        return
    if instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    services.user_sockets_sign_out(user_id=instance.pk)


@receiver(post_delete, sender=User, dispatch_uid="accounts.sockets_on_delete")
def _deleted(sender, instance: User, **kwargs) -> None:
    services.user_sockets_sign_out(user_id=instance.pk)
