"""A coupon's QR code: an SVG of the code itself (what a till's scanner types), made by segno
on the server, so no CDN and no script draw it."""

import io

import segno

QR_SCALE = 6
QR_BORDER = 2  # modules of quiet zone: scanners need some, the card needs little


def coupon_qr_svg(code: str) -> bytes:
    """The QR code of `code` as a standalone SVG document. Error correction M (15%): a scuffed
    phone screen still scans; the code is short, so the symbol stays small either way."""
    out = io.BytesIO()
    segno.make(code, error="m", micro=False).save(
        out, kind="svg", scale=QR_SCALE, border=QR_BORDER, xmldecl=False, svgns=True
    )
    return out.getvalue()


def url_qr_svg(url: str) -> str:
    """The QR code of an address, as an <svg> element to put inline in a page (no file, no
    request). Error correction L: the address is long and the code is read from a screen."""
    out = io.BytesIO()
    segno.make(url, error="l", micro=False).save(
        out, kind="svg", scale=4, border=QR_BORDER, xmldecl=False, svgns=True, svgclass="qr-code"
    )
    return out.getvalue().decode()
