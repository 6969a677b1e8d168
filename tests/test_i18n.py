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

from conftest import PROJECT_ROOT
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
