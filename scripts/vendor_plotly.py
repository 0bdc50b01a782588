"""Vendor Plotly's JavaScript and its stylesheet into static/vendor/plotly/ (no network).

plotly.min.js comes from the `plotly` Python package already installed from uv.lock (its
package data ships the bundle), so the JS version follows the lock. Plotly writes its own CSS
rules into a <style> element when it loads, which the project's CSP (style-src 'self') refuses;
so this loads the bundle once in headless Chromium (no CSP), reads the rules it wrote and saves
them as plotly.css. The page links it as `<link id="plotly.js-style-global"
class="no-inline-styles">`, which tells Plotly not to write its <style> at all.

Run by scripts/vendor_static.sh (`make vendor`); commit the two files it writes.
"""

import sys
from pathlib import Path

import plotly
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "static" / "vendor" / "plotly"
BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

READ_RULES = """() => [...document.querySelectorAll('style[id^="plotly.js-style"]')]
  .flatMap((style) => [...style.sheet.cssRules].map((rule) => rule.cssText))"""


def main() -> int:
    DEST.mkdir(parents=True, exist_ok=True)
    source = BUNDLE.read_text(encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<!doctype html><html><head></head><body></body></html>")
        page.add_script_tag(content=source)
        version = page.evaluate("() => Plotly.version")
        # Rules are inserted at the top, one by one: reversed, they are in the order written.
        rules = list(reversed(page.evaluate(READ_RULES)))
        browser.close()
    if not rules:
        print("Plotly wrote no style rules: nothing to vendor", file=sys.stderr)
        return 1
    (DEST / "plotly.min.js").write_text(source, encoding="utf-8")
    css = f"/* plotly.js {version}: the rules it writes when it loads (scripts/vendor_plotly.py) */\n"
    (DEST / "plotly.css").write_text(css + "\n".join(rules) + "\n", encoding="utf-8")
    (DEST / "VERSION").write_text(f"{version}\n", encoding="utf-8")
    print(f"Vendored plotly.js {version} ({len(rules)} style rules) into {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
