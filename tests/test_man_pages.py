"""Every man page a step names ("man 7 namespaces") opens in a lab host, as the step says."""

import re

import pytest

from labsteps.talk.loader import LANGS, Block, load_steps
from tests.conftest import sh

pytestmark = pytest.mark.root
MAN = re.compile(r"\bman (\d) ([a-z][a-z0-9_.-]*)")


def named_pages() -> set[tuple[str, str]]:
    pages = set()
    for step in load_steps():
        for part in step.parts:
            texts = [part.command, *part.note.values(), *part.task.values()] \
                if isinstance(part, Block) else [part[lang] for lang in LANGS]
            for text in texts:
                pages.update(MAN.findall(text))
    return pages


def test_the_steps_name_man_pages():
    assert ("7", "namespaces") in named_pages()


def test_every_man_page_a_step_names_opens_in_a_lab_host(labhost):
    pages = sorted(named_pages())
    script = "; ".join(f"man -w {section} {page} >/dev/null || echo missing {section} {page}"
                       for section, page in pages)
    code, out = sh(labhost, script + "; man 7 namespaces | head -1")
    assert "missing" not in out, out
    assert "namespaces(7)" in out
