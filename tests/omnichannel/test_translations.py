"""The translation check that `make test` runs: every user-visible string has its zh-Hant."""

import importlib.util
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation

from crm.labels import source_label, touchpoint_kind_label
from crm.services.touchpoints import KNOWN_KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location(
        "check_translations", ROOT / "scripts" / "check_translations.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _po(text: str) -> polib.POFile:
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    return polib.pofile(header + text)


def test_every_user_visible_string_has_a_zh_hant_translation(check, capsys):
    assert check.main([]) == 0, capsys.readouterr().out


def test_the_check_names_file_and_line_of_each_string_without_translation(check):
    python = 'from x import gettext_lazy as _\n\nA = _("Translated")\nB = _("Forgotten")\n'
    template = (
        "{% load i18n %}\n<h1>{% translate 'Translated' %}</h1>\n"
        "<p>{% blocktranslate with n=count %}{{ n }} rows{% endblocktranslate %}</p>\n"
        '<p>{% translate "Half done" %}</p>\n'
    )
    messages = check._extract(python, "crm/thing.py")
    messages += check._extract(check.templatize(template, origin="t.html"), "templates/t.html")
    po = _po(
        'msgid "Translated"\nmsgstr "已翻譯"\n\n'
        'msgid "%(n)s rows"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Half done"\nmsgstr "一半"\n'
    )

    problems = [check.format_problem(m, p) for m, p in check.find_problems(messages, po)]

    assert problems == [
        'crm/thing.py:4: missing msgid "Forgotten"',
        'templates/t.html:3: untranslated msgid "%(n)s rows"',
        'templates/t.html:4: fuzzy msgid "Half done"',
    ]


def test_a_string_django_itself_translates_is_not_reported(check):
    (message,) = check._extract('_("Home")\n', "templates/admin/x.html")

    assert check.find_problems([message], _po(""), check.installed_catalog_keys()) == []


def test_append_adds_the_missing_msgids_at_the_end_of_the_po_file(check, tmp_path):
    po_path = tmp_path / "django.po"
    po_path.write_text('msgid ""\nmsgstr ""\n\nmsgid "Old"\nmsgstr "舊"\n', encoding="utf-8")
    po = polib.pofile(str(po_path))
    messages = check._extract('_("New %(n)s")\n_("Old")\n', "crm/x.py")

    assert check.append_missing(po, check.find_problems(messages, po)) == 1

    text = po_path.read_text(encoding="utf-8")
    assert text.startswith('msgid ""\nmsgstr ""\n\nmsgid "Old"\nmsgstr "舊"\n')
    assert text.rstrip().endswith('#: crm/x.py:1\n#, python-format\nmsgid "New %(n)s"\nmsgstr ""')


def test_touchpoint_kinds_and_source_codes_read_in_chinese():
    with translation.override("zh-hant"):
        assert touchpoint_kind_label("page_view") == "瀏覽頁面"
        assert all(touchpoint_kind_label(kind) != kind for kind in KNOWN_KINDS)
        assert source_label("manual") == "手動"
        assert source_label("import:members") == "匯入：會員名單"
        assert source_label("store") == "門市"
        assert source_label("api:pos-taipei") == "API：pos-taipei"
        assert touchpoint_kind_label("new_kind") == "New kind"
