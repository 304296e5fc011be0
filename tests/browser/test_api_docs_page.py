"""The /docs page as a browser renders it: headless Chromium (Debian's ``chromium``) loads it
from a running gateway, with no network beyond it, and the endpoint list must be there."""

from __future__ import annotations

import re
import shutil

import pytest
from eventlet.green import subprocess

from gateway.openapi import build_spec
from gateway.routing import routes_of
from gateway.service import GatewayService

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed: apt-get install -y chromium chromium-driver")


def render(url: str, tmp_path) -> str:
    """The DOM after the page loaded, as Chromium serialises it; fails on any Content Security
    Policy violation the browser logs (the page's own style must be allowed by its hash)."""
    # A green subprocess: the gateway serving the page runs in this very process.
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path}",
            "--enable-logging=stderr",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=90,
    )
    log = result.stderr.decode(errors="replace")
    assert result.returncode == 0, log[-2000:]
    assert "Content Security Policy" not in log, log[-2000:]
    return result.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def stack(module_stacks):
    """A gateway and no service: the pages need none."""
    return module_stacks([], gateway=True, clock=None)


def test_docs_page_lists_every_endpoint_in_a_browser(stack, tmp_path):
    dom = render(stack.url + "/docs", tmp_path)
    spec = build_spec(routes_of(GatewayService))
    expected = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    shown = set(re.findall(r'<span class="method \w+">(\w+)</span> <code>([^<]+)</code>', dom))
    assert expected <= {(m, p.replace("&amp;", "&")) for m, p in shown}
    count = re.search(r'id="endpoint-count">(\d+) endpoints', dom)
    assert count and int(count.group(1)) == len(expected)
    for tag in {op["tags"][0] for ops in spec["paths"].values() for op in ops.values()}:
        assert f'id="tag-{tag}"' in dom


def test_public_page_renders_its_search_form(stack, tmp_path):
    dom = render(stack.url + "/", tmp_path)
    assert '<form method="get" action="/"' in dom
    assert 'name="q"' in dom
