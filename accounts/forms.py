from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class RegisterForm(forms.Form):
    username = forms.CharField(max_length=150, help_text=_("Letters, digits and @/./+/-/_ only."))
    email = forms.EmailField(max_length=254)
    password1 = forms.CharField(
        label=_("Password"), max_length=128, strip=False, widget=forms.PasswordInput
    )
    password2 = forms.CharField(
        label=_("Password again"), max_length=128, strip=False, widget=forms.PasswordInput
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned


class LoginForm(AuthenticationForm):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False)
    email = forms.EmailField(max_length=254)
    avatar = forms.ImageField(required=False)


class ShopForm(forms.Form):
    shop_name = forms.CharField(max_length=80)
    bio = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 4}))
