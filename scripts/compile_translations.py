"""Compile every locale/*/LC_MESSAGES/*.po into its .mo with polib (no system gettext needed).

Usage: uv run python scripts/compile_translations.py [--check]

Before writing, each translation is checked the way a broken one would fail at runtime: a
python-format string whose placeholders differ from its msgid's raises KeyError (or shows a raw
"%(name)s") when the page renders. Any such entry stops the run with a non-zero exit.
With --check nothing is written; the exit status says whether every .mo is up to date.
"""

import re
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?[sdif%]")


def _placeholders(text: str) -> list[str]:
    return sorted(
        name or match.group(0)
        for match in PLACEHOLDER.finditer(text)
        for name in [match.group(1)]
        if match.group(0) != "%%"
    )


def _problems(po: polib.POFile) -> list[str]:
    problems = []
    for entry in po.translated_entries():
        if "python-format" not in entry.flags:
            continue
        if entry.msgid_plural:
            pairs = [(entry.msgid_plural, text) for text in entry.msgstr_plural.values()]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for source, translation in pairs:
            if _placeholders(source) != _placeholders(translation):
                problems.append(
                    f"line {entry.linenum}: placeholders differ in {entry.msgid!r}: "
                    f"{_placeholders(source)} != {_placeholders(translation)}"
                )
    return problems


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    po_paths = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
    if not po_paths:
        print(f"No .po files under {LOCALE_DIR}", file=sys.stderr)
        return 1
    failed = False
    for po_path in po_paths:
        po = polib.pofile(str(po_path), wrapwidth=0)
        problems = _problems(po)
        relative = po_path.relative_to(ROOT)
        if problems:
            failed = True
            for problem in problems:
                print(f"{relative}: {problem}", file=sys.stderr)
            continue
        mo_path = po_path.with_suffix(".mo")
        binary = po.to_binary()
        untranslated = len(po.untranslated_entries()) + len(po.fuzzy_entries())
        if check_only:
            if not mo_path.exists() or mo_path.read_bytes() != binary:
                print(f"{mo_path.relative_to(ROOT)} is out of date", file=sys.stderr)
                failed = True
            continue
        mo_path.write_bytes(binary)
        print(
            f"{relative} -> {mo_path.name}: {len(po.translated_entries())} translated"
            + (f", {untranslated} untranslated or fuzzy" if untranslated else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
