"""HTML served by the gateway itself: the API page (/docs) and the public page (/).

Self-contained: no CDN, no script, one inline style allowed by its hash in the page's
Content-Security-Policy (many government networks have no internet access).
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from werkzeug.wrappers import Response

from gateway.problems import PROBLEM_TYPES
from infra.places import BUREAU_NAMES, place_of

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#12395b;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
header p{margin:.25rem 0 0}header a{color:#fff}
main{max-width:70rem;margin:0 auto;padding:1rem 2rem}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem 1rem}
section{margin-top:2rem}h2{border-bottom:2px solid #12395b;padding-bottom:.2rem}
article{background:#fff;border:1px solid #d8dde4;border-radius:6px;padding:.6rem 1rem;
margin:.8rem 0}article h3{margin:.2rem 0;font-size:1rem;font-weight:600}
.method{display:inline-block;min-width:4.2rem;font-family:monospace;font-weight:700}
.get{color:#0b6e2e}.post{color:#0b4f8a}.put{color:#8a5a0b}.delete{color:#a1151b}
.patch{color:#6b2d8a}.roles{color:#4a5565;font-size:.9rem}
table{border-collapse:collapse;margin:.4rem 0;font-size:.9rem}
td,th{border:1px solid #d8dde4;padding:.2rem .5rem;text-align:left;vertical-align:top}
code{font-size:.92em}form{margin:1rem 0}input{padding:.4rem;width:20rem;max-width:90%}
pre{background:#f0f3f7;border:1px solid #d8dde4;padding:.4rem .6rem;overflow-x:auto}
h4{margin:.6rem 0 .2rem;font-size:.95rem}
.skip{position:absolute;left:-999px}.skip:focus{position:static;background:#fff;color:#12395b}
.site{font-size:1.3rem;font-weight:700;margin:0}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f2a900;
outline-offset:2px}textarea{padding:.4rem;width:30rem;max-width:90%;font:inherit}
.error{color:#a1151b}
select,button{padding:.4rem;font:inherit}button{background:#12395b;color:#fff;border:0;
border-radius:4px;padding:.45rem 1.2rem}.scroll{overflow-x:auto}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}svg{max-width:100%;height:auto}
@media (max-width:40rem){main{padding:1rem}header{padding:1rem}}
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
PAGE_CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def html_response(body: str, status: int = 200) -> Response:
    return Response(
        body,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )


def _page(title: str, header: str, main: str) -> str:
    return _page_with(title, header, main, "en")


def _page_with(title: str, header: str, main: str, lang: str) -> str:
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><header>{header}</header><main id="main">{main}</main></body></html>'
    )


def _resolve(spec: dict, schema: dict | None) -> dict:
    seen = 0
    while schema and "$ref" in schema and seen < 10:
        schema = spec["components"]["schemas"].get(schema["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    return schema or {}


def _type_of(spec: dict, prop: dict) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    for combined in ("anyOf", "oneOf"):
        if combined in prop:
            return " | ".join(_type_of(spec, p) for p in prop[combined])
    kind = prop.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    out = []
    for k in kinds:
        if k == "array":
            out.append(f"array of {_type_of(spec, prop.get('items', {}))}")
        elif k == "string" and prop.get("format"):
            out.append(f"string ({prop['format']})")
        elif k == "string" and prop.get("enum"):
            out.append(" | ".join(f'"{v}"' for v in prop["enum"] if v is not None))
        else:
            out.append(str(k))
    return " | ".join(out)


def _fields(spec: dict, schema: dict, prefix: str = "", depth: int = 0) -> list[tuple]:
    """(path, type, required, description) rows, nested objects flattened with dots."""
    schema = _resolve(spec, schema)
    rows = []
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        rows.append((path, _type_of(spec, prop), name in required, prop.get("description", "")))
        inner = _resolve(spec, prop.get("items") if prop.get("type") == "array" else prop)
        if inner.get("properties") and depth < 3:
            sub = f"{path}.0." if prop.get("type") == "array" else f"{path}."
            rows.extend(_fields(spec, inner, sub, depth + 1))
    return rows


def _operation_html(spec: dict, path: str, method: str, op: dict[str, Any]) -> str:
    roles = ", ".join(op.get("x-roles", []))
    parts = [
        f'<article class="endpoint" id="op-{escape(op.get("operationId", ""))}">',
        f'<h3><span class="method {method}">{method.upper()}</span> <code>{escape(path)}</code>'
        "</h3>",
        f"<p>{escape(op.get('summary', ''))}</p>",
        f'<p class="roles">Roles: <span class="role-list">{escape(roles)}</span>',
    ]
    if op.get("x-scope"):
        parts.append(
            f"; scope: {escape(op['x-scope'])} (outside it: {op.get('x-out-of-scope-status')})"
        )
    parts.append("</p>")
    params = [p for p in op.get("parameters", []) if p.get("in") in ("path", "query")]
    if params:
        parts.append("<p>Parameters: ")
        parts.append(", ".join(f"<code>{escape(p['name'])}</code> ({p['in']})" for p in params))
        parts.append("</p>")
    # JSON, or a site form's fields (application/x-www-form-urlencoded)
    body = next(iter(op.get("requestBody", {}).get("content", {}).values()), None)
    if body:
        parts.append(_body_html(spec, body))
    responses = ", ".join(
        f"<code>{escape(code)}</code> {escape(r.get('description', ''))}"
        for code, r in op.get("responses", {}).items()
    )
    parts.append(f'<p class="responses">Responses: {responses}</p></article>')
    return "".join(parts)


def _body_html(spec: dict, body: dict) -> str:
    """The request fields (one table per shape of a body that has several) and examples."""
    schema = _resolve(spec, body.get("schema", {}))
    shapes = [_resolve(spec, s) for s in schema.get("oneOf", [])] or [schema]
    parts = [f"<p>{escape(schema['description'])}</p>"] if len(shapes) > 1 else []
    for shape in shapes:
        if len(shapes) > 1:
            parts.append(f'<h4 class="shape">{escape(shape.get("title", ""))}</h4>')
        parts.append(
            '<table class="request"><tr><th>request field</th><th>type</th>'
            "<th>required</th><th>notes</th></tr>"
        )
        for name, kind, req, note in _fields(spec, shape):
            parts.append(
                f"<tr><td><code>{escape(name)}</code></td><td>{escape(kind)}</td>"
                f"<td>{'yes' if req else ''}</td><td>{escape(note)}</td></tr>"
            )
        parts.append("</table>")
    for example in body.get("examples", {}).values():
        text = json.dumps(example["value"], ensure_ascii=False, indent=2)
        parts.append(
            f'<details class="example"><summary>Example: {escape(example["summary"])}</summary>'
            f"<pre>{escape(text)}</pre></details>"
        )
    return "".join(parts)


def _places_html() -> str:
    rows = "".join(
        f"<tr><td><code>{code}</code></td><td>{escape(' '.join(place_of(code)))}</td>"
        f"<td>{escape(zh)} {escape(en)}</td></tr>"
        for code, (zh, en) in BUREAU_NAMES.items()
    )
    return (
        '<section id="places"><h2>Bureaus and districts</h2>'
        "<p>A district is named by its code (GB/T 2260); a bureau by <code>SH</code> (the "
        "city bureau), <code>FTZ</code> (the Free Trade Zone branch) or the code of the "
        "district it supervises.</p>"
        f"<table><tr><th>code</th><th>place</th><th>bureau</th></tr>{rows}</table></section>"
    )


def docs_page(spec: dict) -> str:
    by_tag: dict[str, list[str]] = {}
    count = 0
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["Other"])[0]
            by_tag.setdefault(tag, []).append(_operation_html(spec, path, method, op))
            count += 1
    nav = "".join(f'<li><a href="#tag-{escape(tag)}">{escape(tag)}</a></li>' for tag in by_tag)
    nav += '<li><a href="#places">Bureaus and districts</a></li>'
    sections = "".join(
        f'<section id="tag-{escape(tag)}"><h2>{escape(tag)}</h2>{"".join(ops)}</section>'
        for tag, ops in by_tag.items()
    )
    problems = "".join(
        f'<tr id="problem-{p.slug}"><td><code>{p.uri}</code></td><td>{p.status}</td>'
        f"<td>{escape(p.title)}</td><td>{escape(p.description)}</td></tr>"
        for p in PROBLEM_TYPES.values()
    )
    header = (
        f"<h1>{escape(spec['info']['title'])}: HTTP API {escape(spec['info']['version'])}</h1>"
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. '
        "Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>.</p>"
    )
    main = (
        f'<p id="endpoint-count">{count} endpoints.</p>'
        f"<nav><ul>{nav}</ul></nav>{sections}"
        '<section id="problems"><h2>Problem types</h2>'
        "<p>Every error is <code>application/problem+json</code>.</p>"
        "<table><tr><th>type</th><th>status</th><th>title</th><th>meaning</th></tr>"
        f"{problems}</table></section>" + _places_html()
    )
    return _page("SESP API", header, main)
