"""The step texts' Markdown: every existing text renders as the golden files say (today's
HTML before markdown-it-py took over), and whatever a step file holds stays escaped."""

import re

import pytest

from labsteps.talk.loader import LANGS, load_steps
from tests.markup_golden import GOLDEN, from_file, golden_name, rendered
from web import create_app
from web.markup import inline, render

STEPS = load_steps()
BLOCK_TAG = re.compile(r" ?(</?(?:p|ul|ol|li)>) ?")


def normalised(html: str) -> str:
    """Whitespace collapsed and dropped beside block tags. Also one spelling per entity:
    the old renderer (markupsafe) wrote " and ' as &#34; and &#39;, markdown-it writes
    &quot; and a bare ' (same characters; text needs no escaped ', attributes are
    double-quoted)."""
    html = html.replace("&#34;", "&quot;").replace("&#39;", "'")
    return BLOCK_TAG.sub(r"\1", re.sub(r"\s+", " ", html)).strip()


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
@pytest.mark.parametrize("lang", LANGS)
def test_every_text_renders_as_its_golden_file(step, lang):
    path = GOLDEN / golden_name(step, lang)
    assert path.exists(), f"{path}: none yet; write it with python -m tests.markup_golden"
    golden = [(where, normalised(html)) for where, html in from_file(path.read_text())]
    now = [(where, normalised(html)) for where, html in rendered(step, lang)]
    assert now == golden


def test_every_golden_file_has_its_step():
    expected = {golden_name(s, lang) for s in STEPS for lang in LANGS}
    assert {p.name for p in GOLDEN.glob("*.html")} == expected


def test_what_the_texts_use():
    html = render("Text with `a <b>`, **strong**, *em*, https://example.org/x.\n\n"
                  "- one\n  continued\n- two")
    assert normalised(html) == (
        '<p>Text with <code>a &lt;b&gt;</code>, <strong>strong</strong>, <em>em</em>, '
        '<a href="https://example.org/x" rel="noopener" target="_blank">'
        "https://example.org/x</a>.</p><ul><li>one continued</li><li>two</li></ul>")


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "<div onclick=\"alert(1)\">\n\nx\n</div>",
    "a <img src=x onerror=alert(1)> b",
    "<!-- c --> <![CDATA[x]]> <?php x ?>",
    "`</code><script>x</script>`",
    "**<b>x</b>**",
    "![x](https://example.org/x.png)",
])
def test_raw_html_is_escaped(text):
    for html in (render(text), inline(text)):
        assert not re.search(r"<(?!/?(?:p|ul|li|code|strong|em|a)\b)", html), html
        assert "<script" not in html and "<img" not in html and "<b>" not in html


@pytest.mark.parametrize("text", [
    "[x](javascript:alert(1))",
    "[x](JavaScript:alert(1))",
    "[x](  javascript:alert(1) )",
    "<javascript:alert(1)>",
    "javascript://example.org/%0Aalert(1)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](vbscript:msgbox)",
    "http://example.org/ and [x](http://example.org/)",
    "[x](//example.org/)",
    "[x](/relative)",
    "mail erkan@linsenraum.de or www.example.org",
])
def test_only_https_is_a_link(text):
    for html in (render(text), inline(text)):
        assert "<a" not in html and "href" not in html, html


def test_https_links_open_a_new_tab():
    for html in (render("see [the docs](https://example.org/)"),
                 inline("see https://example.org/")):
        assert 'href="https://example.org/" rel="noopener" target="_blank"' in html


def test_a_link_cannot_break_out_of_its_attribute():
    html = render('[x](https://example.org/"onmouseover="alert(1))')
    assert '"onmouseover' not in html and "onmouseover=\"" not in html


def test_the_inline_filter_makes_no_paragraphs():
    html = inline("one\n\ntwo\n- three\n- four\n\n# five\n\n    six")
    assert not re.search(r"<(?:p|ul|ol|li|h\d|pre)\b", html), html
    assert "one" in html and "six" in html


def test_the_step_page_filter_is_this_renderer(config):
    env = create_app(config).jinja_env
    note = env.from_string("{{ n|markup_inline }}").render(n="`ps` <b>x</b>\n\ny")
    assert note == "<code>ps</code> &lt;b&gt;x&lt;/b&gt;\n\ny"
