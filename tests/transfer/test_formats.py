"""Each peer's export read as its documented format says, without a database: what is kept of
every row, and where and why a bad row is reported."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from surge.transfer.commands import IMPORT_FORMATS
from surge.transfer.formats import FORMATS, Candidate, read
from surge.transfer.sources import decode

# Shlink's web client "Export" button: createdAt, domain, shortCode, shortUrl, longUrl, title,
# tags (joined with "|"), visits (visitsSummary.total).
SHLINK = """createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits
2024-03-01T10:15:00+01:00,s.example,launch,https://s.example/launch,https://example.com/launch,Launch,news|Summer Sale,1234
2024-03-02T08:00:00+00:00,s.example,docs,https://s.example/docs,"https://example.com/docs?a=1,2",,,0
"""  # noqa: E501

# Kutt has no export: its `links` table as `\\copy links TO 'kutt.csv' CSV HEADER` writes it
# (PostgreSQL's text for timestamptz and booleans).
KUTT = """id,address,banned,banned_by_id,created_at,description,domain_id,expire_in,password,target,updated_at,user_id,visit_count,uuid
1,kt1,f,,2024-01-02 03:04:05.678+00,,,,,https://example.org/one,2024-01-02 03:04:05.678+00,1,42,6f1c
2,kt2,f,,2024-01-03 00:00:00+00,,,2031-01-01 00:00:00+00,,https://example.org/two,2024-01-03 00:00:00+00,1,0,7a2d
3,secret,f,,2024-01-04 00:00:00+00,,,,$2a$12$hash,https://example.org/three,2024-01-04 00:00:00+00,1,5,8b3e
4,bad,t,1,2024-01-05 00:00:00+00,,,,,https://example.org/four,2024-01-05 00:00:00+00,1,5,9c4f
"""  # noqa: E501

# phpMyAdmin's CSV of yourls_url without the column names (its default), ";"-separated as in
# "CSV for MS Excel": keyword, url, title, timestamp, ip, clicks.
YOURLS_CSV = """"ozh";"https://ozh.org/";"ozh.org";"2023-05-06 07:08:09";"127.0.0.1";"17"
"yourls";"https://yourls.org/?a=1;b=2";"YOURLS";"2023-05-07 00:00:00";"127.0.0.1";"0"
"""

# What mysqldump writes: DDL, one extended INSERT per table, MySQL string escapes.
YOURLS_SQL = r"""-- MySQL dump 10.13
DROP TABLE IF EXISTS `yourls_url`;
CREATE TABLE `yourls_url` (
  `keyword` varchar(100) NOT NULL DEFAULT '',
  `url` text NOT NULL,
  `title` text,
  `timestamp` timestamp NOT NULL DEFAULT current_timestamp(),
  `ip` varchar(41) NOT NULL,
  `clicks` int(10) unsigned NOT NULL,
  PRIMARY KEY (`keyword`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
LOCK TABLES `yourls_url` WRITE;
INSERT INTO `yourls_url` VALUES ('ozh','https://ozh.org/','ozh.org','2023-05-06 07:08:09','127.0.0.1',17),('blog','https://blog.example.com/it\'s','It\'s a \"blog\"\n(with, commas); and more','2023-05-07 00:00:00','10.0.0.1',3),('nul','https://example.com/n',NULL,'2023-05-08 00:00:00','::1',0);
UNLOCK TABLES;
INSERT INTO `yourls_log` VALUES (1,'2023-05-06 07:09:00','ozh','direct','Mozilla','127.0.0.1','FR');
INSERT INTO `yourls_url` (`keyword`, `url`, `title`, `timestamp`, `ip`, `clicks`) VALUES
('late','https://example.com/late','Late','2023-06-01 00:00:00','127.0.0.1',9);
"""  # noqa: E501  (mysqldump writes a whole table's rows on one line)

# Bitly's links CSV (the v4 API's field names: link, long_url, title, created_at, tags).
BITLY = """title,link,long_url,created_at,clicks,tags
Spring,https://bit.ly/3abcXYZ,https://example.net/spring,2022-04-01T12:00:00+0000,"1,024","spring, promo"
Bare,bit.ly/bare1,https://example.net/bare,2022-04-02T00:00:00+0000,7,
"""  # noqa: E501

SURGE = """slug,url,redirect_type,expires_at,max_clicks,tags,created_at,clicks,bot_clicks,owner
one,https://example.com/1,301,2030-01-01T00:00:00+00:00,100,a|b,2024-01-01T00:00:00+00:00,12,3,x@example.com
"""


def candidates(fmt: str, text: str) -> dict[str, Candidate | str]:
    return dict(read(fmt, text))


def test_the_two_lists_of_formats_agree() -> None:
    assert IMPORT_FORMATS == FORMATS


def test_shlink_keeps_code_target_tags_date_and_visits() -> None:
    rows = candidates("shlink", SHLINK)
    assert rows["line 2"] == Candidate(
        slug="launch",
        url="https://example.com/launch",
        tags=("news", "Summer-Sale"),  # Surge's tags hold no spaces
        created_at=datetime(2024, 3, 1, 9, 15, tzinfo=UTC),
        clicks=1234,
    )
    docs = rows["line 3"]
    assert isinstance(docs, Candidate)
    assert docs.url == "https://example.com/docs?a=1,2"
    assert (docs.tags, docs.clicks) == ((), 0)


def test_kutt_keeps_expiry_and_refuses_passwords_and_bans() -> None:
    rows = candidates("kutt", KUTT)
    first = rows["line 2"]
    assert isinstance(first, Candidate)
    assert (first.slug, first.url, first.clicks) == ("kt1", "https://example.org/one", 42)
    assert first.created_at == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    second = rows["line 3"]
    assert isinstance(second, Candidate)
    assert second.expires_at == datetime(2031, 1, 1, tzinfo=UTC)
    assert "password" in str(rows["line 4"])
    assert "banned" in str(rows["line 5"])


def test_yourls_csv_without_header_and_with_semicolons() -> None:
    rows = candidates("yourls", YOURLS_CSV)
    assert rows["line 1"] == Candidate(
        slug="ozh",
        url="https://ozh.org/",
        created_at=datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC),
        clicks=17,
    )
    second = rows["line 2"]
    assert isinstance(second, Candidate)
    assert second.url == "https://yourls.org/?a=1;b=2"


def test_yourls_csv_with_header() -> None:
    text = (
        "keyword,url,title,timestamp,ip,clicks\n"
        "abc,https://a.example/,A,2023-01-01 00:00:00,::1,4\n"
    )
    assert [c.slug for c in candidates("yourls", text).values() if isinstance(c, Candidate)] == [
        "abc"
    ]


def test_yourls_sql_dump_reads_only_the_url_table_with_mysql_escapes() -> None:
    rows = candidates("yourls", YOURLS_SQL)
    slugs = {c.slug: c for c in rows.values() if isinstance(c, Candidate)}
    assert list(slugs) == ["ozh", "blog", "nul", "late"]  # not the yourls_log row
    assert slugs["blog"].url == "https://blog.example.com/it's"
    assert slugs["ozh"].clicks == 17
    assert slugs["late"].created_at == datetime(2023, 6, 1, tzinfo=UTC)
    assert "line 13, row 2" in rows  # the INSERT's line, and which tuple of it


def test_a_broken_sql_tuple_is_reported_and_the_rest_of_the_dump_still_read() -> None:
    dump = (
        "INSERT INTO `yourls_url` VALUES ('a','https://a.example/','A','2023-01-01 00:00:00',"
        "'::1',1),('b','https://b.example/',oops);\n"
        "INSERT INTO `yourls_url` VALUES ('c','https://c.example/','C','2023-01-01 00:00:00',"
        "'::1',2);\n"
    )
    rows = candidates("yourls", dump)
    assert [c.slug for c in rows.values() if isinstance(c, Candidate)] == ["a", "c"]
    assert "not a readable VALUES tuple" in str(rows["line 1, row 2"])


def test_bitly_slug_is_the_back_half_and_counts_may_have_separators() -> None:
    rows = candidates("bitly", BITLY)
    spring = rows["line 2"]
    assert isinstance(spring, Candidate)
    assert (spring.slug, spring.clicks, spring.tags) == ("3abcXYZ", 1024, ("spring", "promo"))
    assert spring.created_at == datetime(2022, 4, 1, 12, tzinfo=UTC)
    bare = rows["line 3"]
    assert isinstance(bare, Candidate)
    assert (bare.slug, bare.url) == ("bare1", "https://example.net/bare")


def test_surge_csv_keeps_every_field() -> None:
    assert candidates("csv", SURGE)["line 2"] == Candidate(
        slug="one",
        url="https://example.com/1",
        tags=("a", "b"),
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        clicks=12,
        bot_clicks=3,
        redirect_type=301,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        max_clicks=100,
    )


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("x,https://e.com/,302,,,,yesterday,0,0,", "created_at: not a date"),
        ("x,https://e.com/,302,,,,,-4,0,", "clicks: not a count"),
        ("x,https://e.com/,302,,ten,,,0,0,", "max_clicks: not a whole number"),
        (",https://e.com/,302,,,,,0,0,", "no slug"),
        ("x,https://e.com/", "2 fields where the header names 10"),
    ],
)
def test_a_malformed_row_says_why_on_its_line(row: str, why: str) -> None:
    text = SURGE.splitlines()[0] + "\n\n" + row + "\n"
    assert why in str(candidates("csv", text)["line 3"])


def test_bytes_that_are_not_utf8_reject_their_row_only() -> None:
    data = SHLINK.encode() + b"2024-03-03,s,caf\xe9,u,https://example.com/cafe,,,1\n"
    rows = candidates("shlink", decode(data, "utf-8"))
    assert isinstance(rows["line 2"], Candidate)
    assert "byte 0xE9" in str(rows["line 4"])
    assert "--encoding" in str(rows["line 4"])
    # ... and read as what they are, they are fine.
    latin = candidates("shlink", decode(data, "latin-1"))["line 4"]
    assert isinstance(latin, Candidate)
    assert latin.slug == "café"  # the links API's rules refuse it later, with their reason


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column() -> None:
    rows = candidates("csv", decode(b"\xef\xbb\xbf" + SURGE.encode(), "utf-8"))
    assert isinstance(rows["line 2"], Candidate)
