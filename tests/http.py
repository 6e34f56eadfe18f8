"""Assertions on API responses shared by the HTTP tests: the one error body and its fields."""

from __future__ import annotations

from werkzeug.test import TestResponse


def assert_rejected(response: TestResponse, field: str, status: int = 422) -> None:
    """The request failed with ``status`` and the error body names ``field``."""
    assert response.status_code == status, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()


def assert_error_shape(response: TestResponse) -> None:
    """A JSON body {code, status, message, errors} whose code is the HTTP status."""
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert set(body) >= {"code", "status", "message", "errors"}, body
    assert body["code"] == response.status_code
    assert isinstance(body["status"], str)
    assert body["status"]
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], dict)
