"""Marketplace orders (formats/README.md, marketplace_orders): Shopee, momo, PChome and the
like, one order per row; order numbers and buyer accounts are scoped to their platform."""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _

from crm.imports.messages import ERROR_AMOUNT_NEGATIVE, ERROR_STATUS, ERROR_TOO_LONG
from crm.imports.presets.base import preset_for_layout
from crm.imports.records import EXTERNAL_NO_MAX, ParsedRow
from crm.imports.rows import RowReader
from crm.imports.values import fold, parse_amount, parse_choice, parse_datetime
from crm.models import Identity, Order
from omnichannel.channels import Channel

Kind = Identity.Kind
# Plain strings, looked up once: an enum member's .value is a property call on every row.
PLACED = Order.Status.PLACED.value
CANCELLED = Order.Status.CANCELLED.value
RETURNED = Order.Status.RETURNED.value
MARKETPLACE = Channel.MARKETPLACE.value

# As the platforms write them (formats/README.md); 退貨/退款 is one value, Shopee Taiwan's.
MARKETPLACE_STATUSES = {
    "完成": PLACED,
    "已完成": PLACED,
    "已出貨": PLACED,
    "待出貨": PLACED,
    "取消": CANCELLED,
    "不成立": CANCELLED,
    "退貨/退款": RETURNED,
    "退貨": RETURNED,
    "退款": RETURNED,
}
MARKETPLACE_STATUSES_EXPECTED = ", ".join(MARKETPLACE_STATUSES)
MARKETPLACE_TIME_EXAMPLE = "2025-03-12 10:22"
MARKETPLACE_IDENTIFIERS = (
    ("買家帳號", Kind.MARKETPLACE_BUYER.value),
    ("收件者電話", Kind.PHONE.value),
)


def parse_marketplace_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = RowReader(line, row)
    platform = fold(r.required("平台")).lower()
    order_no = r.required("訂單編號")
    external_no = f"{platform}:{order_no}"
    if platform and order_no and len(external_no) > EXTERNAL_NO_MAX:
        r.error("訂單編號", ERROR_TOO_LONG, {"max": EXTERNAL_NO_MAX - len(platform) - 1})
    placed_at = r.parsed("訂單成立日期", parse_datetime, MARKETPLACE_TIME_EXAMPLE)
    status = r.parsed(
        "訂單狀態",
        parse_choice,
        MARKETPLACE_STATUSES,
        MARKETPLACE_STATUSES_EXPECTED,
        ERROR_STATUS,
    )
    amount = r.parsed("商品總價", parse_amount)
    if amount is not None and amount < 0:
        r.error("商品總價", ERROR_AMOUNT_NEGATIVE)
    # The buyer account is scoped to its platform: shopee:mei_chen88.
    buyer = r.text("買家帳號")
    identifiers = r.identifiers(
        MARKETPLACE_IDENTIFIERS,
        raw=[
            (Kind.MARKETPLACE_BUYER.value, f"{platform}:{buyer}" if buyer else ""),
            (Kind.PHONE.value, row.get("收件者電話", "")),
        ],
    )
    name = r.name("收件者姓名")
    return r.order_row(
        identifiers,
        name=name,
        channel=MARKETPLACE,
        external_no=external_no,
        amount_twd=amount,
        placed_at=placed_at,
        status=status,
    )


MARKETPLACE_ORDERS = preset_for_layout(
    name="marketplace_orders",
    label=_("Marketplace orders"),
    required=("平台", "訂單編號", "訂單成立日期", "訂單狀態", "商品總價"),
    parse=parse_marketplace_order,
    channel=MARKETPLACE,
)
