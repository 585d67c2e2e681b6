"""``postgresql://`` URLs: parsed by libpq's rules, shown without their password, whatever form the password takes."""

from __future__ import annotations

import pytest

from watchlists.postgres_url import PostgresUrl


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        (
            "postgresql://vigil:s3cret@db.example:6543/wl?sslmode=require",
            "postgresql://vigil@db.example:6543/wl",
            "s3cret",
        ),
        ("postgres://vigil@db/wl", "postgresql://vigil@db:5432/wl", None),
        ("postgresql://vigil:p%40ss%2Fw0rd@db/wl", "postgresql://vigil@db:5432/wl", "p@ss/w0rd"),
        (
            "postgresql://db.example/wl?user=vigil&password=Qu3ry-Pass",
            "postgresql://vigil@db.example:5432/wl",
            "Qu3ry-Pass",
        ),
        ("postgresql:///wl", "postgresql://localhost:5432/wl", None),
    ],
    ids=["full", "no password", "percent-encoded", "options in the query", "local socket"],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str, password: str | None) -> None:
    parsed = PostgresUrl.parse(url)

    assert (parsed.redacted(), parsed.password) == (shown, password)
    assert "secret" not in repr(parsed).lower() and (password is None or password not in repr(parsed))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://vigil:Bad Secret@db/wl",  # spaces must be percent-encoded: libpq quotes the offending part
        "postgresql://vigil:Bad-Secret@db:port/wl",
        "postgresql://vigil:Bad-Secret@db/wl?no_such_option=1",
    ],
)
def test_a_malformed_url_is_refused_without_quoting_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="not a valid postgresql:// URL") as refused:
        PostgresUrl.parse(url)

    assert "Secret" not in str(refused.value)


def test_scrub_hides_the_password_in_every_form_it_may_take() -> None:
    parsed = PostgresUrl.parse("postgresql://vigil:p%40ss-word@db/wl")

    assert parsed.scrub("p%40ss-word p@ss-word and pgpass", "pgpass") == "*** *** and ***"
