from tests.helpers import manage


def test_openapi_schema_generates_without_warnings_and_validates(tmp_path):
    result = manage(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/v1/auth/token/", "/api/v1/products/{id}/", "/api/v1/auth/me/"):
        assert f"{path}:" in schema
