"""Every step text that goes through web/markup.py, rendered to HTML, as golden files.

tests/golden/markup/<step file>.<lang>.html holds, for one step and language, each prose
part (web.markup.render) and each block's note (the markup_inline filter), each under a
comment naming its place in the step file. test_markup.py compares today's output with
them; after a deliberate change to a text or to the renderer, write them anew with

    python -m tests.markup_golden
"""

from __future__ import annotations

from pathlib import Path

from labsteps.talk.loader import LANGS, Block, Step, load_steps
from web.markup import inline, render

GOLDEN = Path(__file__).parent / "golden" / "markup"


def rendered(step: Step, lang: str) -> list[tuple[str, str]]:
    """(where, html) for every text of the step in one language, in reading order."""
    out = []
    for i, part in enumerate(step.parts):
        if isinstance(part, Block):
            if part.note:
                out.append((f"part[{i}].note", str(inline(part.note[lang]))))
        else:
            out.append((f"part[{i}]", str(render(part[lang]))))
    return out


def golden_name(step: Step, lang: str) -> str:
    return f"{step.source.stem}.{lang}.html"


def as_file(texts: list[tuple[str, str]]) -> str:
    return "".join(f"<!-- {where} -->\n{html}\n\n" for where, html in texts)


def from_file(content: str) -> list[tuple[str, str]]:
    texts = []
    for chunk in content.split("<!-- ")[1:]:
        where, _, html = chunk.partition(" -->\n")
        texts.append((where, html.strip()))
    return texts


def write() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for step in load_steps():
        for lang in LANGS:
            (GOLDEN / golden_name(step, lang)).write_text(as_file(rendered(step, lang)))


if __name__ == "__main__":
    write()
