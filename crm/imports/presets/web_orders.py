"""Web shop orders (formats/README.md, web_orders): one order per row, with its status."""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _

from crm.imports.messages import ERROR_AMOUNT_NEGATIVE, ERROR_STATUS
from crm.imports.presets.base import preset_for_layout
from crm.imports.records import EXTERNAL_NO_MAX, ParsedRow
from crm.imports.rows import RowReader
from crm.imports.values import parse_amount, parse_choice, parse_datetime
from crm.models import Identity, Order
from omnichannel.channels import Channel

Kind = Identity.Kind
# Plain strings, looked up once: an enum member's .value is a property call on every row.
PLACED = Order.Status.PLACED.value
CANCELLED = Order.Status.CANCELLED.value
RETURNED = Order.Status.RETURNED.value
WEB = Channel.WEB.value

WEB_STATUSES = {
    "已付款": PLACED,
    "已出貨": PLACED,
    "已完成": PLACED,
    "已取消": CANCELLED,
    "已退貨": RETURNED,
}
WEB_STATUSES_EXPECTED = ", ".join(WEB_STATUSES)
WEB_TIME_EXAMPLE = "2025-03-12T21:14:09+08:00"
WEB_IDENTIFIERS = (
    ("顧客ID", Kind.WEB_CUSTOMER_ID.value),
    ("顧客Email", Kind.EMAIL.value),
    ("顧客電話", Kind.PHONE.value),
    ("會員卡號", Kind.POS_CARD.value),
)


def parse_web_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = RowReader(line, row)
    external_no = r.required("訂單號碼", max_length=EXTERNAL_NO_MAX)
    placed_at = r.parsed("訂單日期", parse_datetime, WEB_TIME_EXAMPLE)
    status = r.parsed("訂單狀態", parse_choice, WEB_STATUSES, WEB_STATUSES_EXPECTED, ERROR_STATUS)
    amount = r.parsed("訂單合計", parse_amount)
    if amount is not None and amount < 0:
        r.error("訂單合計", ERROR_AMOUNT_NEGATIVE)
    identifiers = r.identifiers(WEB_IDENTIFIERS)
    name = r.name("顧客姓名")
    return r.order_row(
        identifiers,
        name=name,
        channel=WEB,
        external_no=external_no,
        amount_twd=amount,
        placed_at=placed_at,
        status=status,
    )


WEB_ORDERS = preset_for_layout(
    name="web_orders",
    label=_("Web shop orders"),
    required=("訂單號碼", "訂單日期", "訂單狀態", "訂單合計"),
    parse=parse_web_order,
    channel=WEB,
)
