"""`make run` as a new user meets it: a real server process on loopback with the demo data,
used over HTTP like a browser and like a mobile app."""

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request

import pytest

from tests.helpers import manage, site_env, web_server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Migrated, seeded, served: the embedded default in its own folder."""
    env = site_env(tmp_path_factory.mktemp("site"))
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr
    with web_server(env) as base_url:
        yield base_url


class Browser:
    """Just enough of a browser: cookies, redirects, forms with their CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str, str]:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()

    def submit(self, path: str, fields: dict[str, str]) -> tuple[str, str]:
        _, _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=10) as response:
            return response.geturl(), response.read().decode()


def api(base: str, path: str, *, data: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(base + path, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_home_page_shows_demo_products_and_styles_load(site):
    browser = Browser(site)
    status, _, page = browser.get("/")
    assert status == 200
    assert "LiveShop" in page and "Wireless earbuds" in page
    status, content_type, css = browser.get("/static/css/site.css")
    assert status == 200 and content_type == "text/css" and len(css) > 500


def test_product_list_filters_over_http(site):
    _, _, page = Browser(site).get("/products/?q=mug&max_price=40&ordering=-price")
    assert "Stoneware mug set (4)" in page
    assert "Wireless earbuds" not in page


def test_product_images_are_served(site):
    products = api(site, "/api/v1/products/?q=earbuds")["results"]
    image_path = urllib.parse.urlparse(products[0]["image_url"]).path
    with urllib.request.urlopen(site + image_path, timeout=10) as response:
        status, content_type = response.status, response.headers.get_content_type()
    assert status == 200 and content_type.startswith("image/")


def test_demo_buyer_logs_in_on_the_site(site):
    browser = Browser(site)
    url, page = browser.submit(
        "/accounts/login/", {"username": "demo_buyer", "password": "liveshop-demo"}
    )
    assert urllib.parse.urlparse(url).path == "/"
    assert "Demo Buyer" in page
    _, _, profile = browser.get("/accounts/profile/")
    assert "buyer@demo.liveshop.local" in profile


def test_mobile_client_gets_a_token_and_reads_me(site):
    tokens = api(
        site, "/api/v1/auth/token/", data={"username": "demo_buyer", "password": "liveshop-demo"}
    )
    me = api(site, "/api/v1/auth/me/", token=tokens["access"])
    assert me["username"] == "demo_buyer" and me["role"] == "buyer"


def test_health_endpoint_reports_database_and_cache(site):
    assert api(site, "/healthz") == {"status": "ok", "database": "ok", "cache": "ok"}
