"""Oversized, lying and non-JSON requests to the API get the API's JSON error, on a real server.

Before: a 3 MB body got an HTML 400 and a traceback in the log, a 10 MB one a reset connection,
a Content-Length larger than the body an HTML 400, and a body of another media type was parsed
as JSON anyway.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from fleets.models import Fleet

from .conftest import RawAnswer, Server

MB = 1024 * 1024


def post_head(path: str, token: str, length: int, media_type: str = "application/json") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: {media_type}\r\nContent-Length: {length}"
    )


def padded_order(size: int) -> bytes:
    """A well-formed fleet order, padded with an ignored field to `size` bytes."""
    start = b'{"origin": 1, "target": 2, "mission": "transport", "ships": {"small_cargo": 1}, "pad": "'
    return start + b"x" * (size - len(start) - 2) + b'"}'


def assert_error(answer: RawAnswer, status: int, code: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert set(body) == {"error", "detail", "fields"} and body["error"] == code, body


def assert_clean_log(server: Server) -> None:
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


@pytest.mark.parametrize("size", [3 * MB, 10 * MB], ids=["3MB", "10MB"])
def test_an_oversized_body_gets_a_json_413_not_html_nor_a_reset(server: Server, world, size):
    body = padded_order(size)
    answer = server.request(post_head("/api/fleets", world.alice.token, len(body)), body)
    assert_error(answer, 413, "too_large")
    assert_clean_log(server)
    assert Fleet.objects.count() == len(world.mine.fleets + world.theirs.fleets)


def test_a_content_length_larger_than_the_body_gets_a_json_413(server: Server, world):
    """The client claims 3 MB, sends a few bytes and stops sending."""
    answer = server.request(
        post_head("/api/fleets", world.alice.token, 3 * MB), b'{"origin": 1}', half_close=True
    )
    assert_error(answer, 413, "too_large")
    assert_clean_log(server)


def test_a_body_just_under_the_limit_is_read(server: Server, world, settings):
    body = padded_order(settings.API_MAX_BODY_BYTES)
    answer = server.request(post_head("/api/fleets", world.alice.token, len(body)), body)
    assert_error(answer, 404, "not_found")  # it was parsed: planet 1 is not alice's


@pytest.mark.parametrize(
    "media_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_a_body_that_is_not_declared_json_gets_a_json_415(server: Server, world, media_type):
    body = json.dumps(
        {
            "origin": world.alice.home.pk,
            "target": world.bob.home.pk,
            "mission": "transport",
            "ships": {"small_cargo": 1},
        }
    ).encode()
    answer = server.request(post_head("/api/fleets", world.alice.token, len(body), media_type), body)
    assert_error(answer, 415, "unsupported_media_type")
    assert "application/json" in answer.json()["detail"]
    assert Fleet.objects.count() == len(world.mine.fleets + world.theirs.fleets)


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00garbage", b'{"origin": 1', b"\x00" * 100, b'{"origin": "\xc3\x28"}'], ids=repr
)
def test_an_unreadable_body_gets_a_json_400(server: Server, world, body):
    answer = server.request(post_head("/api/fleets", world.alice.token, len(body)), body)
    assert_error(answer, 400, "invalid")


@pytest.mark.django_db
@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_a_content_length_that_is_not_a_number_gets_a_json_400(make_player, length):
    """gunicorn refuses these itself; behind another server Django would read no body at all."""
    alice = make_player("alice")
    response = Client().post(
        "/api/fleets",
        b"{}",
        content_type="application/json",
        headers={"Authorization": f"Token {alice.token}"},
        CONTENT_LENGTH=length,
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
