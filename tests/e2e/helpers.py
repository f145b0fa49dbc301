"""Small HTTP helpers shared by the e2e test modules."""

import requests

HTTP_TIMEOUT = 15
# 401 comes in keystonemiddleware's form, as from every OpenStack service:
# {"error": {"code": 401, "title": "Unauthorized", "message": ...}}.
ERROR_KEYS = {
    400: "badRequest",
    401: "error",
    403: "forbidden",
    404: "itemNotFound",
    409: "conflictingRequest",
}


def call(method, url, token=None, json=None, headers=None, data=None):
    h = {"Accept": "application/json"}
    if token is not None:
        h["X-Auth-Token"] = token
    if json is not None or data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    return requests.request(method, url, headers=h, json=json, data=data, timeout=HTTP_TIMEOUT)


def describe(r):
    return f"{r.request.method} {r.request.url} -> {r.status_code} {dict(r.headers)} {r.text[:500]!r}"


def json_body(r):
    ctype = r.headers.get("Content-Type", "")
    assert "json" in ctype.lower(), f"expected a JSON body: {describe(r)}"
    try:
        return r.json()
    except ValueError as e:
        raise AssertionError(f"body is not JSON ({e}): {describe(r)}") from None


def assert_error(r, status):
    """`r` is the documented error: status `status`, body {"<key>": {"message": str, "code": status}}."""
    assert r.status_code == status, describe(r)
    key = ERROR_KEYS[status]
    body = json_body(r)
    assert key in body, f"expected error key {key!r}: {describe(r)}"
    err = body[key]
    assert err.get("code") == status, describe(r)
    assert isinstance(err.get("message"), str) and err["message"], describe(r)
    if status == 401:
        assert err.get("title") == "Unauthorized", describe(r)
    return err
