"""Fail when a user-visible string of the code or the templates has no zh-Hant translation.

Usage: uv run python scripts/check_translations.py [--append]

Msgids are extracted without GNU gettext: Babel's Python extractor reads the apps' modules, and
each template is first turned into Python-gettext code by Django's own `templatize` (the step
`makemessages` uses), which keeps line numbers, then read by the same extractor. Every msgid
(with its context and plural) must have a non-empty, non-fuzzy msgstr in
locale/zh_Hant/LC_MESSAGES/django.po. Each one that has not is printed as

    path:line: untranslated|missing|fuzzy msgid "..." [context "..."]

sorted by file and line, so whoever merges branches can fix the stragglers one by one. The exit
status is 1 when any is found. With --append the missing msgids are also appended (with empty
msgstr) at the end of the .po file, ready to be filled in.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import polib
from babel.messages.extract import extract_python
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"
PYTHON_DIRS = ("omnichannel", "crm", "campaigns", "loyalty")
TEMPLATE_DIRS = ("templates",)
SKIPPED_PARTS = {"migrations", "__pycache__", "static"}

# Django's gettext functions, with where their arguments are (Babel's keyword spec):
# None = the first argument; (1, 2) = singular and plural; (1, "c") = the context.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


@dataclass(frozen=True)
class Message:
    path: str
    line: int
    msgid: str
    plural: str | None
    context: str | None

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.context, self.msgid)


def _extract(source: str, path: str) -> list[Message]:
    found = []
    fileobj = io.BytesIO(source.encode("utf-8"))
    for line, _funcname, messages, _comments in extract_python(
        fileobj, KEYWORDS.keys(), [], {"encoding": "utf-8"}
    ):
        found.append(_message(path, line, _funcname, messages))
    return [message for message in found if message is not None]


def _message(path: str, line: int, funcname: str, messages) -> Message | None:
    spec = KEYWORDS[funcname]
    args = messages if isinstance(messages, tuple) else (messages,)
    if spec is None:
        positions, context_at = (1,), None
    else:
        positions = tuple(p for p in spec if not isinstance(p, tuple))
        context_at = next((p[0] for p in spec if isinstance(p, tuple)), None)

    def arg(position: int) -> str | None:
        value = args[position - 1] if position - 1 < len(args) else None
        return value if isinstance(value, str) else None

    msgid = arg(positions[0])
    if not msgid:  # gettext(variable): nothing to check here
        return None
    plural = arg(positions[1]) if len(positions) > 1 else None
    context = arg(context_at) if context_at else None
    return Message(path, line, msgid, plural, context)


def _files(dirs: tuple[str, ...], pattern: str) -> list[Path]:
    return sorted(
        path
        for directory in dirs
        if (ROOT / directory).is_dir()
        for path in (ROOT / directory).rglob(pattern)
        if not SKIPPED_PARTS & set(path.relative_to(ROOT).parts)
    )


def extract_messages() -> list[Message]:
    """Every translatable string of the apps' Python modules and of the templates."""
    messages = []
    for path in _files(PYTHON_DIRS, "*.py"):
        relative = str(path.relative_to(ROOT))
        messages.extend(_extract(path.read_text(encoding="utf-8"), relative))
    for path in _files(TEMPLATE_DIRS, "*.html") + _files(TEMPLATE_DIRS, "*.txt"):
        relative = str(path.relative_to(ROOT))
        code = templatize(path.read_text(encoding="utf-8"), origin=relative)
        # Its output keeps the template's indentation, which Python's tokenizer refuses; the
        # msgids are single-line literals (repr), so dropping it changes no line number.
        code = "\n".join(line.lstrip() for line in code.split("\n"))
        messages.extend(_extract(code, relative))
    return messages


def installed_catalog_keys() -> set[tuple[str | None, str]]:
    """The msgids that Django and the installed third-party apps translate to zh-Hant themselves.

    A template may use one of them ("Home" in an admin template) and rely on their catalogs,
    which Django merges with ours at runtime.
    """
    import django
    from django.apps import apps

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    directories = [Path(django.__file__).parent / "conf"]
    directories += [
        Path(config.path)
        for config in apps.get_app_configs()
        if config.name.split(".")[0] not in PYTHON_DIRS
    ]
    keys = set()
    for directory in directories:
        po_path = directory / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"
        if po_path.exists():
            keys.update(
                (entry.msgctxt, entry.msgid)
                for entry in polib.pofile(str(po_path)).translated_entries()
            )
    return keys


def _problem(message: Message, entries: dict, installed: set) -> str | None:
    entry = entries.get(message.key)
    if entry is None and message.key in installed:
        return None
    if entry is None or entry.obsolete:
        return "missing"
    if "fuzzy" in entry.flags:
        return "fuzzy"
    if message.plural:
        if not entry.msgstr_plural or not all(entry.msgstr_plural.values()):
            return "untranslated"
    elif not entry.msgstr and not all((entry.msgstr_plural or {0: ""}).values()):
        return "untranslated"
    return None


def find_problems(
    messages: list[Message], po: polib.POFile, installed: set | frozenset = frozenset()
) -> list[tuple[Message, str]]:
    """Each message without a usable zh-Hant msgstr, with why ("missing", "fuzzy", ...)."""
    entries = {(entry.msgctxt, entry.msgid): entry for entry in po}
    problems = []
    for message in sorted(messages, key=lambda m: (m.path, m.line, m.msgid)):
        problem = _problem(message, entries, installed)
        if problem:
            problems.append((message, problem))
    return problems


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def format_problem(message: Message, problem: str) -> str:
    text = f"{message.path}:{message.line}: {problem} msgid {_quote(message.msgid)}"
    if message.context:
        text += f" context {_quote(message.context)}"
    return text


def append_missing(po: polib.POFile, problems: list[tuple[Message, str]]) -> int:
    """Append an empty entry at the end of the .po file for each msgid it lacks; returns how many.

    The file is appended to, not rewritten, so the entries above keep their order and format.
    """
    known = {(entry.msgctxt, entry.msgid) for entry in po}
    new_entries = []
    for message, problem in problems:
        if problem != "missing" or message.key in known:
            continue
        known.add(message.key)
        entry = polib.POEntry(
            msgid=message.msgid,
            msgctxt=message.context,
            msgstr="",
            occurrences=[(message.path, str(message.line))],
        )
        if message.plural:
            entry.msgid_plural = message.plural
            entry.msgstr_plural = {0: ""}
        if "%" in message.msgid:
            entry.flags.append("python-format")
        new_entries.append(entry.__unicode__(wrapwidth=0))
    if new_entries:
        with Path(po.fpath).open("a", encoding="utf-8") as po_file:
            po_file.write("\n" + "\n".join(new_entries))
    return len(new_entries)


def main(argv: list[str]) -> int:
    po = polib.pofile(str(PO_PATH), wrapwidth=0)
    problems = find_problems(extract_messages(), po, installed_catalog_keys())
    for message, problem in problems:
        print(format_problem(message, problem))
    if not problems:
        print(f"Every translatable string has its zh-Hant translation ({PO_PATH.name}).")
        return 0
    print(
        f"\n{len(problems)} string(s) lack a zh-Hant translation in "
        f"{PO_PATH.relative_to(ROOT)}: add the msgstr, then run "
        "scripts/compile_translations.py.",
        file=sys.stderr,
    )
    if "--append" in argv:
        added = append_missing(po, problems)
        print(f"Appended {added} empty entries to {PO_PATH.relative_to(ROOT)}.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
