"""A customer's browser over plain HTTP (httpx), for the portal's session tests: log in,
read a page's CSRF token, log out, and hand over a copy of its cookies (what an attacker
copies off a machine)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx


def csrf_of(html: str) -> str:
    """The CSRF token a portal form carries."""
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


class Visitor:
    """One browser (one cookie jar) on the portal at `base`."""

    def __init__(self, base: str, cookies: httpx.Cookies | None = None) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, cookies=cookies)

    def log_in(self, username: str, password: str, code: Callable[[], str] | None = None) -> None:
        """Password, then (when the customer has a token) the code `code` gives."""
        token = csrf_of(self.http.get("/portal/login").text)
        answer = self.http.post(
            "/portal/login", data={"username": username, "password": password, "_csrf_token": token}
        )
        assert answer.status_code == 302, answer.text
        if answer.headers["location"] == "/portal/login/code":
            assert code is not None, "the customer has a token: a code is needed"
            token = csrf_of(self.http.get("/portal/login/code").text)
            answer = self.http.post(
                "/portal/login/code", data={"code": code(), "_csrf_token": token}
            )
            assert answer.status_code == 302, answer.text
        assert answer.headers["location"] == "/portal/"
        assert self.opens_portal(), "the login did not open the portal"

    def opens_portal(self) -> bool:
        """True when /portal/ shows the customer's home; False when it sends to the login."""
        answer = self.http.get("/portal/")
        if answer.status_code == 302:
            assert answer.headers["location"] == "/portal/login"
            return False
        assert answer.status_code == 200, answer.text
        return True

    def post(
        self, path: str, data: dict[str, str] | None = None, page: str = "/portal/"
    ) -> httpx.Response:
        """A form posted with the CSRF token of `page` (read first, as a browser does)."""
        token = csrf_of(self.http.get(page).text)
        return self.http.post(path, data={**(data or {}), "_csrf_token": token})

    def log_out(self) -> None:
        answer = self.post("/portal/logout")
        assert (answer.status_code, answer.headers["location"]) == (302, "/portal/login")

    def copy_of_cookies(self) -> httpx.Cookies:
        """Every cookie this browser holds, as an attacker would copy them."""
        return httpx.Cookies(self.http.cookies)

    def close(self) -> None:
        self.http.close()
