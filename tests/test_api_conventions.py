"""API conventions every endpoint shares: request throttling (per address, per user, writes,
credentials) answered as 429 with Retry-After; CORS for the configured origins on /api/ only;
and the browsable docs at /api/docs/ and /api/redoc/, served without any CDN.

The production rates (settings.API_THROTTLE_RATES) stay in force for every other test; the
throttle tests here lower them with the `rates` fixture, so no test depends on a rate that
only tests have."""

import json
import re
import runpy
import urllib.parse
from collections.abc import Iterator

import pytest
from django.urls import reverse

from conftest import PASSWORD, PROJECT_ROOT
from liveshop.throttling import AUTH_THROTTLED_ROUTES
from tests.helpers import manage, site_env, web_server

PRODUCTS = "/api/v1/products/"
ME = "/api/v1/auth/me/"
REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
BECOME_SELLER = "/api/v1/auth/become-seller/"

LOW_RATES = {"anon": "3/min", "user": "4/min", "write": "2/min", "auth": "2/min"}


@pytest.fixture
def rates(settings):
    """Small rates, so that a test reaches each limit in a few requests."""

    def set_rates(num_proxies: int = 0, **overrides: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**LOW_RATES, **overrides},
            "NUM_PROXIES": num_proxies,
        }

    set_rates()
    return set_rates


def assert_throttled(response) -> dict:
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "throttled"
    assert body["error"]["message"]
    assert body["error"]["fields"] == {}
    retry_after = int(response["Retry-After"])  # whole seconds, as HTTP has it
    assert 1 <= retry_after <= 60
    return body["error"]


def post_json(client, path: str, body, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


# --- throttling ------------------------------------------------------------------------


def test_anonymous_reads_are_limited_per_address(db, api_client, rates):
    for _ in range(3):
        assert api_client.get(PRODUCTS).status_code == 200

    error = assert_throttled(api_client.get(PRODUCTS))

    assert "throttled" in error["message"].lower()
    # Another address is counted apart.
    assert api_client.get(PRODUCTS, REMOTE_ADDR="198.51.100.20").status_code == 200


def test_the_read_limit_covers_every_read_endpoint_together(db, api_client, rates, category):
    for path in (PRODUCTS, "/api/v1/categories/", "/api/v1/rooms/"):
        assert api_client.get(path).status_code == 200

    assert_throttled(api_client.get(f"/api/v1/categories/{category.pk}/"))


def test_signed_in_reads_are_limited_per_user_wherever_they_come_from(
    rates, auth_api, buyer, make_user
):
    client = auth_api(buyer)
    for number in range(4):
        assert client.get(ME, REMOTE_ADDR=f"198.51.100.{number}").status_code == 200

    assert_throttled(client.get(ME, REMOTE_ADDR="198.51.100.99"))


def test_one_users_exhausted_limit_leaves_other_users_alone(rates, auth_api, buyer, seller):
    exhausted = auth_api(buyer)
    for _ in range(4):
        exhausted.get(ME)
    assert_throttled(exhausted.get(ME))

    # Same address, different user: a full allowance of their own.
    other = auth_api(seller)
    for _ in range(4):
        assert other.get(ME).status_code == 200


def test_a_signed_in_user_is_not_held_to_the_visitor_limit_of_their_address(
    rates, api_client, auth_api, buyer
):
    for _ in range(3):
        api_client.get(PRODUCTS)
    assert_throttled(api_client.get(PRODUCTS))

    assert auth_api(buyer).get(PRODUCTS).status_code == 200


def test_writes_are_limited_per_user_and_apart_from_reads(rates, auth_api, buyer):
    client = auth_api(buyer)
    for _ in range(2):
        # Refused input still counts: it cost the server the same work.
        assert post_json(client, BECOME_SELLER, {}).status_code == 400

    assert_throttled(post_json(client, BECOME_SELLER, {"shop_name": "Bella's"}))
    assert_throttled(client.patch(ME, data={"bio": "hi"}, format="json"))
    # Reads have their own allowance.
    assert client.get(ME).status_code == 200


def test_anonymous_writes_are_limited_per_address(db, api_client, rates):
    for _ in range(2):
        assert post_json(api_client, VERIFY, {"token": "not-a-token"}).status_code == 401

    assert_throttled(post_json(api_client, VERIFY, {"token": "not-a-token"}))
    other_address = post_json(api_client, VERIFY, {"token": "x"}, REMOTE_ADDR="198.51.100.7")
    assert other_address.status_code == 401


def test_register_token_and_refresh_share_a_per_address_limit(db, api_client, rates, buyer):
    rates(write="100/min")  # only the credentials limit is under test
    tokens = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})
    assert tokens.status_code == 200
    refreshed = post_json(api_client, REFRESH, {"refresh": tokens.json()["refresh"]})
    assert refreshed.status_code == 200

    for path, body in [
        (REGISTER, {"username": "newcomer", "email": "n@example.test", "password": PASSWORD}),
        (TOKEN, {"username": buyer.username, "password": PASSWORD}),
        (REFRESH, {"refresh": refreshed.json()["refresh"]}),
    ]:
        assert_throttled(post_json(api_client, path, body))

    # Checking a token is no credential: only the write limit applies to it.
    assert post_json(api_client, VERIFY, {"token": "x"}).status_code == 401
    # Another address may still sign up.
    other = post_json(
        api_client,
        REGISTER,
        {"username": "newcomer", "email": "n@example.test", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.8",
    )
    assert other.status_code == 201


def test_a_signed_in_client_gets_no_extra_credential_requests(rates, auth_api, buyer):
    client = auth_api(buyer)
    for number in range(2):
        post_json(client, TOKEN, {"username": f"guess{number}", "password": "wrong-password"})

    assert_throttled(post_json(client, TOKEN, {"username": buyer.username, "password": PASSWORD}))


def test_the_credential_routes_still_exist_under_the_names_the_throttle_knows():
    """AUTH_THROTTLED_ROUTES names URL routes; a renamed route would silently lose its limit."""
    assert AUTH_THROTTLED_ROUTES == {"api:api-register", "api:api-token", "api:api-token-refresh"}
    assert {reverse(name) for name in AUTH_THROTTLED_ROUTES} == {REGISTER, TOKEN, REFRESH}


def test_the_per_account_login_limit_still_answers_with_its_own_wait(db, api_client, buyer):
    """The failed-login counters (accounts/login_throttle.py) stay in force under the API's
    own limits, and the production rates leave room for them."""
    for _ in range(5):
        response = post_json(api_client, TOKEN, {"username": buyer.username, "password": "bad"})
        assert response.status_code == 401

    response = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    error = assert_throttled_login(response)
    assert "Too many failed login attempts" in error["message"]


def assert_throttled_login(response) -> dict:
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    return response.json()["error"]


def test_forged_x_forwarded_for_does_not_dodge_the_address_limit(db, api_client, rates):
    for number in range(3):
        forged = api_client.get(PRODUCTS, HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
        assert forged.status_code == 200

    assert_throttled(api_client.get(PRODUCTS, HTTP_X_FORWARDED_FOR="203.0.113.200"))


def test_behind_one_trusted_proxy_the_address_it_appends_is_counted(db, api_client, rates):
    rates(num_proxies=1)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the proxy
    for number in range(3):
        # The client forges a first entry; the proxy appends the address it really saw.
        forwarded = f"203.0.113.{number}, 198.51.100.1"
        assert api_client.get(PRODUCTS, HTTP_X_FORWARDED_FOR=forwarded, **proxy).status_code == 200

    assert_throttled(
        api_client.get(PRODUCTS, HTTP_X_FORWARDED_FOR="203.0.113.77, 198.51.100.1", **proxy)
    )
    # Another client behind the same proxy has a full allowance of its own.
    other = api_client.get(PRODUCTS, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)
    assert other.status_code == 200


def test_client_address_follows_the_trusted_proxy_setting(rf, rates):
    from liveshop.throttling import client_address

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1")
    assert client_address(request) == "10.0.0.2"
    rates(num_proxies=1)
    assert client_address(request) == "198.51.100.1"


def test_throttled_answers_are_documented_in_the_schema(db, api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    throttled = schema["components"]["responses"]["Throttled"]
    assert "Retry-After" in throttled["headers"]
    operations = [
        operation
        for item in schema["paths"].values()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert operations
    assert all(
        op["responses"]["429"] == {"$ref": "#/components/responses/Throttled"} for op in operations
    )


def openapi(client) -> dict:
    return client.get("/api/schema/?format=json").json()


def test_the_schema_documents_the_errors_drf_answers_by_itself(db, api_client):
    paths = openapi(api_client)["paths"]
    error = {"$ref": "#/components/schemas/Error"}

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    product = paths["/api/v1/products/{id}/"]["get"]["responses"]
    assert product["404"]["content"]["application/json"]["schema"] == error
    # A public read still reads a Bearer token, and a bad one answers 401.
    assert statuses("/api/v1/products/{id}/", "get") >= {"200", "401", "404", "429"}
    assert "400" in statuses("/api/v1/products/", "get")  # the filters are validated
    assert "404" in statuses("/api/v1/products/", "get")  # a page past the end
    assert statuses("/api/v1/products/", "post") >= {"201", "400", "401", "403", "415"}
    # Registration reads no credentials: nothing to answer 401 or 403 for.
    assert statuses("/api/v1/auth/register/", "post") == {"201", "400", "415", "429"}


def test_request_bodies_are_json_except_where_a_file_is_uploaded(db, api_client):
    paths = openapi(api_client)["paths"]

    def media_types(path: str, method: str) -> set[str]:
        return set(paths[path][method]["requestBody"]["content"])

    assert media_types("/api/v1/auth/register/", "post") == {"application/json"}
    assert media_types("/api/v1/cart/items/", "post") == {"application/json"}
    assert "multipart/form-data" in media_types("/api/v1/products/", "post")
    assert "multipart/form-data" in media_types("/api/v1/auth/me/", "patch")


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/products/1.5/", "/api/v2/products/", "/api/"]
)
def test_unknown_api_urls_answer_the_json_404(db, client, path):
    for response in (client.get(path), client.post(path, data={}), client.delete(path)):
        assert response.status_code == 404
        assert response.json() == {
            "error": {"code": "not_found", "message": "No such API endpoint.", "fields": {}}
        }


def test_an_api_url_without_its_trailing_slash(db, client):
    redirected = client.get("/api/v1/products?q=mug")
    assert redirected.status_code == 301
    assert redirected["Location"] == "/api/v1/products/?q=mug"

    refused = client.post("/api/v1/cart/items", data={})
    assert refused.status_code == 404
    assert "/api/v1/cart/items/" in refused.json()["error"]["message"]


def test_site_pages_keep_their_own_404(db, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- configuration -----------------------------------------------------------------------

API_VARIABLES = (
    "API_THROTTLE_ANON",
    "API_THROTTLE_USER",
    "API_THROTTLE_WRITE",
    "API_THROTTLE_AUTH",
    "API_TRUSTED_PROXIES",
    "CORS_ALLOWED_ORIGINS",
)


@pytest.fixture
def read_settings(monkeypatch):
    """Evaluate liveshop/settings.py afresh under the given environment."""

    def read(**env: str) -> dict:
        for name in API_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(PROJECT_ROOT / "liveshop" / "settings.py"))

    return read


def test_defaults_are_production_rates_and_no_trusted_proxy_and_no_cors(read_settings):
    values = read_settings()
    rest = values["REST_FRAMEWORK"]
    assert rest["DEFAULT_THROTTLE_RATES"] == {
        "anon": "120/min",
        "user": "600/min",
        "write": "120/min",
        "auth": "20/min",
    }
    assert rest["NUM_PROXIES"] == 0  # DRF's default (None) would trust X-Forwarded-For
    assert values["CORS_ALLOWED_ORIGINS"] == []
    assert values["CORS_ALLOW_CREDENTIALS"] is False


def test_rates_proxies_and_origins_come_from_the_environment(read_settings):
    values = read_settings(
        API_THROTTLE_ANON="30/second",
        API_THROTTLE_USER="1000/hour",
        API_THROTTLE_WRITE="10 / m",
        API_THROTTLE_AUTH="5/day",
        API_TRUSTED_PROXIES="2",
        CORS_ALLOWED_ORIGINS="https://app.example.com, http://localhost:5173",
    )
    assert values["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"] == {
        "anon": "30/second",
        "user": "1000/hour",
        "write": "10/m",
        "auth": "5/day",
    }
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 2
    assert values["CORS_ALLOWED_ORIGINS"] == ["https://app.example.com", "http://localhost:5173"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_THROTTLE_ANON", "lots"),
        ("API_THROTTLE_USER", "600"),
        ("API_THROTTLE_WRITE", "0/min"),
        ("API_THROTTLE_AUTH", "20/mni"),
        ("API_TRUSTED_PROXIES", "-1"),
        ("API_TRUSTED_PROXIES", "one"),
        ("CORS_ALLOWED_ORIGINS", "app.example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("CORS_ALLOWED_ORIGINS", "ftp://app.example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com:port"),
        ("CORS_ALLOWED_ORIGINS", "https://App.Example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://ok.example.com,*"),
        ("CORS_ALLOWED_ORIGINS", "https://user@app.example.com"),
    ],
)
def test_a_malformed_value_stops_start_up(read_settings, name, value):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=name):
        read_settings(**{name: value})


def test_a_malformed_origin_stops_manage_py_too(tmp_path):
    result = manage("check", env=site_env(tmp_path, CORS_ALLOWED_ORIGINS="https://x.example/"))
    assert result.returncode != 0
    assert "CORS_ALLOWED_ORIGINS" in result.stderr


# --- CORS ----------------------------------------------------------------------------------

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP_ORIGIN]


def preflight(client, path: str, origin: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_preflight_from_a_listed_origin_allows_the_bearer_header(db, client, cors):
    response = preflight(client, "/api/v1/cart/items/", APP_ORIGIN)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed_headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert int(response["Access-Control-Max-Age"]) >= 600  # browsers cache the preflight
    # Credentials stay off: the website's session cookie never rides a cross-site call.
    assert "Access-Control-Allow-Credentials" not in response


def test_a_listed_origin_reads_answers_and_the_retry_after_header(db, client, cors, rates):
    response = client.get(PRODUCTS, HTTP_ORIGIN=APP_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "origin" in response["Vary"].lower()

    for _ in range(3):
        client.get(PRODUCTS, HTTP_ORIGIN=APP_ORIGIN)
    throttled = client.get(PRODUCTS, HTTP_ORIGIN=APP_ORIGIN)
    assert throttled.status_code == 429
    assert throttled["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "retry-after" in throttled["Access-Control-Expose-Headers"].lower()


def test_an_unlisted_origin_gets_no_cors_headers(db, client, cors):
    for response in (
        preflight(client, "/api/v1/cart/items/", "https://evil.example.net"),
        client.get(PRODUCTS, HTTP_ORIGIN="https://evil.example.net"),
        # Same host, other scheme: another origin.
        client.get(PRODUCTS, HTTP_ORIGIN="http://app.example.com"),
    ):
        assert "Access-Control-Allow-Origin" not in response


def test_pages_outside_the_api_get_no_cors_headers(db, client, cors):
    for path in ("/", "/products/", "/healthz", "/accounts/login/"):
        response = client.get(path, HTTP_ORIGIN=APP_ORIGIN)
        assert "Access-Control-Allow-Origin" not in response, path
    assert "Access-Control-Allow-Origin" not in preflight(client, "/cart/add/", APP_ORIGIN)


def test_with_no_origins_configured_nobody_gets_cors_headers(db, client):
    assert "Access-Control-Allow-Origin" not in preflight(client, PRODUCTS, APP_ORIGIN)
    assert "Access-Control-Allow-Origin" not in client.get(PRODUCTS, HTTP_ORIGIN=APP_ORIGIN)


# --- docs ------------------------------------------------------------------------------------

RESOURCE = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.I)


def local_resources(page: str) -> list[str]:
    resources = RESOURCE.findall(page)
    for url in resources:
        parsed = urllib.parse.urlsplit(url)
        assert not parsed.scheme and not parsed.netloc, f"the page loads {url} from elsewhere"
    return resources


@pytest.mark.parametrize(
    ("path", "script"), [("/api/docs/", "swagger-ui"), ("/api/redoc/", "redoc")]
)
def test_api_docs_render_from_local_static_files_only(db, client, path, script):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "http://" not in page and "https://" not in page
    resources = local_resources(page)
    assert any(script in url and url.endswith(".js") for url in resources)
    for url in resources:
        served = client.get(url)
        assert served.status_code == 200, url
        assert b"".join(served.streaming_content if served.streaming else [served.content])
    assert "/api/schema/" in page
    assert client.get("/api/schema/").status_code == 200


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory) -> Iterator[str]:
    env = site_env(tmp_path_factory.mktemp("docs-site"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with web_server(env) as base_url:
        yield base_url


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        # Swagger UI lists the operations once it has read the schema.
        ("/api/docs/", ".opblock-summary-path[data-path='/api/v1/auth/token/']"),
        # Redoc draws the API title and each operation's heading from the schema.
        ("/api/redoc/", "h1:has-text('LiveShop API')"),
    ],
)
def test_api_docs_draw_the_schema_in_a_browser_without_the_internet(
    chromium, docs_site, path, ready
):
    elsewhere: list[str] = []
    page = chromium.new_page()
    try:

        def only_loopback(route):
            host = urllib.parse.urlsplit(route.request.url).hostname
            if host == "127.0.0.1":
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_loopback)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(docs_site + path)
        page.wait_for_selector(ready, timeout=20_000)
        assert not errors
    finally:
        page.close()
    assert elsewhere == []
