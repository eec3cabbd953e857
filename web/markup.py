"""The step texts' Markdown, to HTML, by markdown-it-py: paragraphs, lists, `code`,
**strong**, *emphasis*, bare https:// links and [text](https://...) links.

Only those rules are on (no raw HTML, headings, images, code blocks or entities), and a
link's target must be https://; everything else is text, escaped.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup

_RULES = ["list", "newline", "escape", "backticks", "emphasis", "link", "linkify", "blockquote"]


def _https_only(url: str) -> bool:
    return url.lower().startswith("https://")


def _new_tab(self, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("rel", "noopener")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


_md = MarkdownIt("zero", {"html": False, "linkify": True}).enable(_RULES)
_md.validateLink = _https_only
_md.add_render_rule("link_open", _new_tab)


# The texts are the step files', fixed while the server runs: each is rendered once, not
# for every page and every GET of a step (some 2 ms of the GIL per step, 100 attendees over).
@lru_cache(maxsize=4096)
def render(text: str) -> Markup:
    """A prose part: paragraphs and lists."""
    return Markup(_md.render(text))


@lru_cache(maxsize=4096)
def inline(text: str) -> Markup:
    """One line of markup (a block's note), without paragraphs."""
    return Markup(_md.renderInline(text))
