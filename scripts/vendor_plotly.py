"""Vendor Plotly's JavaScript and its stylesheet into static/vendor/plotly/ (no network).

plotly.min.js comes from the `plotly` Python package already installed from uv.lock (its
package data ships the bundle), so the JS version follows the lock. Plotly writes its own CSS
rules into a <style> element when it loads, and so does the MapLibre it bundles, which the
project's CSP (style-src 'self') refuses. So this loads the bundle once in headless Chromium (no
CSP), reads every <style> it wrote and saves each as a stylesheet: Plotly's rules as plotly.css,
any other (MapLibre's) as style-N.css. It also writes templates/vendor/plotly_head.html, which
links each stylesheet with the id of the <style> it replaces: Plotly skips its own when
#plotly.js-style-global has class no-inline-styles, MapLibre when an element has its id.

Run by scripts/vendor_static.sh (`make vendor`); commit the files it writes.
"""

import sys
from pathlib import Path

import plotly
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "static" / "vendor" / "plotly"
BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

HEAD = ROOT / "templates" / "vendor" / "plotly_head.html"
PLOTLY_ID = "plotly.js-style-global"

READ_STYLES = """() => [...document.querySelectorAll("style")].map((style) => ({
  id: style.id,
  text: style.textContent,
  rules: [...style.sheet.cssRules].map((rule) => rule.cssText),
}))"""


def main() -> int:
    DEST.mkdir(parents=True, exist_ok=True)
    source = BUNDLE.read_text(encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_content("<!doctype html><html><head></head><body></body></html>")
        page.add_script_tag(content=source)
        version = page.evaluate("() => Plotly.version")
        styles = page.evaluate(READ_STYLES)
        browser.close()
    if not any(style["id"] == PLOTLY_ID for style in styles):
        print("Plotly wrote no style rules: has it changed how it styles?", file=sys.stderr)
        return 1
    for old in DEST.glob("*.css"):
        old.unlink()
    (DEST / "plotly.min.js").write_text(source, encoding="utf-8")
    links = []
    for n, style in enumerate(styles):
        if not style["id"]:
            print(
                f"A <style> without an id cannot be replaced: {style['text'][:80]}", file=sys.stderr
            )
            return 1
        if style["id"].startswith("plotly.js-style"):
            # Rules are inserted at the top one by one: reversed, they are in the order written.
            name, text = "plotly.css", "\n".join(reversed(style["rules"]))
            extra = ' class="no-inline-styles"'
        else:
            name, text, extra = f"style-{n}.css", style["text"], ""
        header = f"/* plotly.js {version}: a <style> it writes when it loads (vendor_plotly.py) */"
        (DEST / name).write_text(f"{header}\n{text}\n", encoding="utf-8")
        links.append(
            f'<link rel="stylesheet" id="{style["id"]}"{extra}'
            f" href=\"{{% static 'vendor/plotly/{name}' %}}\">"
        )
    HEAD.parent.mkdir(parents=True, exist_ok=True)
    HEAD.write_text(
        "{% load static %}{# Written by scripts/vendor_plotly.py: the stylesheets that stand in"
        " for the <style> elements plotly.min.js would write (the CSP forbids them). #}\n"
        + "\n".join(links)
        + "\n",
        encoding="utf-8",
    )
    (DEST / "VERSION").write_text(f"{version}\n", encoding="utf-8")
    print(f"Vendored plotly.js {version} ({len(styles)} stylesheets) into {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
