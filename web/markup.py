"""The step texts' small markup, to HTML: paragraphs, "- " lists, `code`, **strong**,
*emphasis* and bare https:// links. Everything else is escaped."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|(https://[^\s<]+[^\s<.,;:)])")


def inline(text: str) -> Markup:
    """One line of markup (a block's note), without paragraphs."""
    return Markup(_inline(text))


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(str(escape(text[pos:m.start()])))
        code, strong, em, url = m.groups()
        if code is not None:
            out.append(f"<code>{escape(code)}</code>")
        elif strong is not None:
            out.append(f"<strong>{escape(strong)}</strong>")
        elif em is not None:
            out.append(f"<em>{escape(em)}</em>")
        else:
            out.append(f'<a href="{escape(url)}" rel="noopener" target="_blank">{escape(url)}</a>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return "".join(out)


def render(text: str) -> Markup:
    html = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if all(line.startswith("- ") or line.startswith("  ") for line in lines):
            items, current = [], []
            for line in lines:
                if line.startswith("- ") and current:
                    items.append(" ".join(current))
                    current = []
                current.append(line[2:].strip())
            items.append(" ".join(current))
            html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        else:
            html.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return Markup("\n".join(html))
