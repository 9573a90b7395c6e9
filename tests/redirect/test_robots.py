"""robots.txt on each short domain: the links marked crawlable are allowed, nothing else."""

from __future__ import annotations

from tests.conftest import Surge
from tests.domains.test_domains import DOMAINS, GO, admin
from tests.helpers import LINKS


async def test_robots_txt_allows_only_the_crawlable_links_of_its_domain(surge: Surge) -> None:
    key = await admin(surge)
    assert (await surge.client.post(DOMAINS, json={"host": GO}, headers=key)).status_code == 201
    for slug, domain, crawlable in [
        ("guide", None, True),
        ("promo", None, False),
        ("about", None, True),
        ("guide", GO, False),
        ("go-crawl", GO, True),
    ]:
        body = {"url": "https://example.com/", "slug": slug, "crawlable": crawlable}
        if domain:
            body["domain"] = domain
        made = await surge.client.post(LINKS, json=body, headers=key)
        assert made.status_code == 201, made.text

    default = await surge.client.get("/robots.txt")
    assert default.status_code == 200
    assert default.headers["content-type"] == "text/plain; charset=utf-8"
    rules = [line for line in default.text.splitlines() if line and not line.startswith("#")]
    assert rules == ["User-agent: *", "Allow: /about", "Allow: /guide", "Disallow: /"]

    other = await surge.client.get("/robots.txt", headers={"host": GO})
    assert "Allow: /go-crawl\n" in other.text
    assert "/guide" not in other.text
    assert other.text.endswith("Disallow: /\n")
    head = await surge.client.head("/robots.txt")
    assert head.status_code == 200
    assert head.content == b""
    unknown = await surge.client.get("/robots.txt", headers={"host": "nowhere.example"})
    assert unknown.status_code == 404
