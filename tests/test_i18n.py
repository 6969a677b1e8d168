"""Ready for translation: user-visible text is marked for translation, prices follow the
active locale, and the page says which language it is in."""

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import translation
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError

from accounts import services as account_services
from accounts.tokens import RevocableRefreshToken
from conftest import PROJECT_ROOT
from liveshop.errors import ApplicationError
from liveshop.templatetags.money import format_money

TEMPLATES = PROJECT_ROOT / "templates"
APPS = ["accounts", "catalog", "rooms", "orders", "notifications", "analytics", "liveshop"]

# Words that are the same in every language: the brand, payment provider and
# the backend's setting name shown on the test payment page.
ALLOWED_WORDS = {"LiveShop", "Stripe"}

COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.S)
BLOCKTRANSLATE = re.compile(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1>", re.S | re.I)
TEMPLATE_TAG = re.compile(r"{%.*?%}|{{.*?}}", re.S)
HTML_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
# Attributes a person reads or hears: their values need translating too.
VISIBLE_ATTRIBUTE = re.compile(r'\b(aria-label|placeholder|title|alt)\s*=\s*"([^"]*)"')
WORD = re.compile(r"[^\W\d_]{2,}")


def unmarked_text(source: str) -> list[str]:
    """Text a user would see that is outside {% translate %}/{% blocktranslate %}: text
    nodes between tags and the visible attributes above. Template variables are not text."""
    source = COMMENTS.sub(" ", source)
    source = BLOCKTRANSLATE.sub(" ", source)
    source = SCRIPT_OR_STYLE.sub(" ", source)
    found = []
    for tag in HTML_TAG.findall(source):
        for _name, value in VISIBLE_ATTRIBUTE.findall(tag):
            found += [w for w in WORD.findall(TEMPLATE_TAG.sub(" ", value))]
    text = HTML_TAG.sub("\n", TEMPLATE_TAG.sub("\n", source))
    for line in text.splitlines():
        found += WORD.findall(line)
    return [word for word in found if word not in ALLOWED_WORDS]


def test_the_scan_sees_unmarked_text_and_passes_marked_text():
    assert unmarked_text("<p>Hello <b>world</b></p>") == ["Hello", "world"]
    assert unmarked_text('<input placeholder="Search">') == ["Search"]
    marked = (
        '<p>{% translate "Hello" %}</p><input placeholder="{% translate \'Search\' %}">'
        "{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}<p>{{ product.name }}</p>"
        "{# a comment #}<script>const x = 'code';</script><p>LiveShop · 42 ×</p>"
    )
    assert unmarked_text(marked) == []


def test_every_template_marks_its_visible_text_for_translation():
    problems = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        words = unmarked_text(path.read_text())
        if words:
            problems[str(path.relative_to(TEMPLATES))] = words
    assert not problems, "text not wrapped in {% translate %}: " + repr(problems)


# --- Python: strings a user reads come from gettext --------------------------------------

GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext"}
USER_FACING_KEYWORDS = {"label", "help_text", "empty_label"}
MESSAGE_FUNCTIONS = {"success", "info", "warning", "error", "debug", "add_message"}


def _is_plain_text(node: ast.AST) -> bool:
    """A literal (or f-string) with words in it, not wrapped in a gettext call."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORD.search(node.value))
    return isinstance(node, ast.JoinedStr)


def untranslated_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        candidates: list[ast.AST] = []
        if name in MESSAGE_FUNCTIONS and isinstance(func, ast.Attribute):
            if getattr(func.value, "id", "") == "messages" and len(node.args) >= 2:
                candidates.append(node.args[1])
        elif name == "ValidationError" and node.args:
            candidates.append(node.args[0])
        elif name == "add_error" and len(node.args) >= 2:
            candidates.append(node.args[1])
        if path.name in {"forms.py", "filters.py"}:
            candidates += [kw.value for kw in node.keywords if kw.arg in USER_FACING_KEYWORDS]
        for candidate in candidates:
            if _is_plain_text(candidate):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{candidate.lineno}")
    return found


def test_messages_form_labels_and_form_errors_are_marked_for_translation():
    problems = []
    for app in APPS:
        for name in ("forms.py", "views.py", "filters.py", "decorators.py"):
            path = PROJECT_ROOT / app / name
            if path.exists():
                problems += untranslated_strings(path)
    assert not problems, "user-facing strings without gettext: " + ", ".join(problems)


# --- Domain errors: the refusals pages, the API and the room socket show ------------------

# Where refusals are raised or answered. Each app's modules by name, and the few other
# modules whose refusals reach a user (the webhook's answers, the payment provider's
# refusal, the login throttle and token checks, the API's error shape, image checks, the
# media unit's: it marks them with gettext_noop, streaming/host.py translates them).
ERROR_MODULES = ("services.py", "consumers.py", "apis.py", "exceptions.py")
ERROR_FILES = (
    "orders/webhooks.py",
    "orders/stripe_api.py",
    "accounts/login_throttle.py",
    "accounts/tokens.py",
    "liveshop/api.py",
    "liveshop/images.py",
    "streaming/unit.py",
    "streaming/host.py",
)
# A stable error code ("out_of_stock") is for programs, not people: it stays as it is.
ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")
# Callables whose text arguments are the message a user reads.
MESSAGE_CALLS = {"error_body", "send_error", "ValidationError", "Refusal", "MediaError"}
# Class attributes DRF shows as the refusal's text (permission and exception classes).
MESSAGE_ATTRIBUTES = {"message", "default_detail"}


def _subclass_names(base: type) -> set[str]:
    names = set()
    for cls in base.__subclasses__():
        names |= {cls.__name__} | _subclass_names(cls)
    return names


def user_facing_exceptions() -> set[str]:
    """Names of the exceptions whose message a user reads: the domain errors (every app's
    exceptions.py), DRF's API exceptions, simplejwt's token errors."""
    for app in APPS:
        if (PROJECT_ROOT / app / "exceptions.py").exists():
            __import__(f"{app}.exceptions")
    names = {ApplicationError.__name__, APIException.__name__, TokenError.__name__}
    for base in (ApplicationError, APIException, TokenError):
        names |= _subclass_names(base)
    return names


def _plain_texts(node: ast.AST) -> list[ast.AST]:
    """Unmarked text in a message argument, looking into the dicts and lists that
    ValidationError takes ({"field": ["message"]}); error codes are not text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [] if ERROR_CODE.fullmatch(node.value) else [node] if _is_plain_text(node) else []
    if isinstance(node, ast.JoinedStr):
        return [node]
    if isinstance(node, ast.BinOp):  # "..." % args or "..." + "...": the text is unmarked
        return _plain_texts(node.left) + _plain_texts(node.right)
    if isinstance(node, ast.Dict):
        return [found for value in node.values for found in _plain_texts(value)]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [found for element in node.elts for found in _plain_texts(element)]
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        return _plain_texts(node.elt)
    if isinstance(node, ast.DictComp):
        return _plain_texts(node.value)
    return []


def untranslated_errors(path: Path, exceptions: set[str], root: Path = PROJECT_ROOT) -> list[str]:
    """Refusal messages written as plain text: arguments of a domain, API or socket error
    (raised or answered), "message" entries of error frames, and DRF message attributes."""
    tree = ast.parse(path.read_text())
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in exceptions or name in MESSAGE_CALLS:
                for argument in node.args:
                    found += _plain_texts(argument)
                for keyword in node.keywords:
                    if keyword.arg in {"message", "detail", "fields"}:
                        found += _plain_texts(keyword.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "message":
                    found += _plain_texts(value)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(
                    getattr(target, "id", "") in MESSAGE_ATTRIBUTES for target in statement.targets
                ):
                    found += _plain_texts(statement.value)
    where = path.relative_to(root)
    return sorted({f"{where}:{node.lineno}" for node in found}, key=lambda s: (len(s), s))


def error_module_paths() -> list[Path]:
    paths = [PROJECT_ROOT / app / name for app in [*APPS, "streaming"] for name in ERROR_MODULES]
    paths += [PROJECT_ROOT / name for name in ERROR_FILES]
    return [path for path in paths if path.exists()]


def test_the_error_scan_sees_unmarked_refusals_and_passes_marked_ones(tmp_path):
    source = tmp_path / "services.py"
    source.write_text(
        "def f(n):\n"
        '    raise CartError("Your cart is empty.", code="cart_empty")\n'
        '    raise Refusal("invalid", f"At most {n} offers.")\n'
        '    raise ValidationError({"stock": ["Stock is a whole number."]})\n'
        '    raise CartError(_("Your cart is empty."), code="cart_empty")\n'
        '    raise Refusal("invalid", _("At most %(n)s offers.") % {"n": n})\n'
        '    raise ValidationError({"stock": [_("Stock is a whole number.")]})\n'
        '    raise RuntimeError("a developer reads this one")\n'
        '    return {"type": "error", "code": "banned", "message": "You were banned."}\n'
    )
    found = untranslated_errors(source, {"CartError"}, root=tmp_path)
    assert found == ["services.py:2", "services.py:3", "services.py:4", "services.py:9"]


def test_domain_errors_and_socket_refusals_are_marked_for_translation():
    exceptions = user_facing_exceptions()
    assert {"CartError", "RoomEnded", "NotFound", "TokenError"} <= exceptions
    problems = []
    for path in error_module_paths():
        problems += untranslated_errors(path, exceptions)
    assert not problems, "refusal messages without gettext: " + ", ".join(problems)


def test_a_refusal_is_worded_in_the_active_language_and_keeps_its_code(buyer):
    """The message is translated when the refusal is made (simplejwt ships a German text
    for this one); the code a client reads stays the same in every language."""
    refresh = str(RevocableRefreshToken.for_user(buyer))
    account_services.user_logout_device(refresh=refresh)
    answers = {}
    for language in ("de", "en"):
        with translation.override(language), pytest.raises(ApplicationError) as refused:
            account_services.user_logout_device(refresh=refresh)
        answers[language] = (refused.value.code, refused.value.message)
    assert answers == {
        "de": ("token_not_valid", "Token steht auf der Blacklist"),
        "en": ("token_not_valid", "Token is blacklisted"),
    }


# --- Locale formatting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "24.50 USD"), ("de", "24,50 EUR"), ("fr", "24,50 EUR")],
)
def test_prices_follow_the_active_locale(language, expected):
    currency = expected.split()[-1]
    with translation.override(language):
        assert format_money(Decimal("24.5"), currency) == expected
        rendered = Template("{% load money %}{{ price|money:currency }}").render(
            Context({"price": Decimal("24.50"), "currency": currency})
        )
    assert rendered == expected


def test_money_shows_nothing_for_no_amount_and_never_fails_on_odd_input():
    assert format_money(None, "USD") == ""
    assert format_money("not a number", "USD") == "not a number"
    with translation.override("en"):
        assert format_money(3, "") == "3.00"


def test_the_page_declares_the_active_language(db):
    request = RequestFactory().get("/no-such-page/")
    request.user = __import__("django.contrib.auth.models").contrib.auth.models.AnonymousUser()
    request.session = {}
    with translation.override("de"):
        html = render_to_string("404.html", request=request)
    assert '<html lang="de">' in html
    with translation.override("en"):
        html = render_to_string("404.html", request=request)
    assert '<html lang="en">' in html
