"""Store POS orders (formats/README.md, pos_orders): a sale or a return (negative) per row."""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy as _

from crm.imports.messages import ERROR_RETURN_POSITIVE, ERROR_SALE_NEGATIVE
from crm.imports.presets.base import preset_for_layout
from crm.imports.records import EXTERNAL_NO_MAX, ParsedRow
from crm.imports.rows import RowReader
from crm.imports.values import parse_amount, parse_choice, parse_datetime
from crm.models import Identity, Order
from omnichannel.channels import Channel

Kind = Identity.Kind
# Plain strings, looked up once: an enum member's .value is a property call on every row.
PLACED = Order.Status.PLACED.value
STORE = Channel.STORE.value

POS_TYPES = {"銷售": "sale", "退貨": "return"}
POS_TYPES_EXPECTED = "銷售, 退貨"
POS_TIME_EXAMPLE = "2025/03/12 14:05:33"
POS_IDENTIFIERS = (
    ("會員卡號", Kind.POS_CARD.value),
    ("會員手機", Kind.PHONE.value),
    ("載具號碼", Kind.EINVOICE_CARRIER.value),
)


def parse_pos_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = RowReader(line, row)
    store_code = r.required("門市代碼", max_length=20)
    external_no = r.required("交易序號", max_length=EXTERNAL_NO_MAX)
    placed_at = r.parsed("交易時間", parse_datetime, POS_TIME_EXAMPLE)
    amount = r.parsed("銷售金額", parse_amount)
    kind = r.parsed("交易類型", parse_choice, POS_TYPES, POS_TYPES_EXPECTED)
    is_return = kind == "return"
    returns_external_no = ""
    if is_return:
        returns_external_no = r.required("原交易序號", max_length=EXTERNAL_NO_MAX)
        if amount is not None and amount > 0:
            r.error("銷售金額", ERROR_RETURN_POSITIVE)
    elif kind is not None and amount is not None and amount < 0:
        r.error("銷售金額", ERROR_SALE_NEGATIVE)
    identifiers = r.identifiers(POS_IDENTIFIERS)
    return r.order_row(
        identifiers,
        channel=STORE,
        external_no=external_no,
        amount_twd=amount,
        placed_at=placed_at,
        # A return is its own (negative) order, so revenue nets out; the sale stays placed.
        status=PLACED,
        store_code=store_code,
        store_name=r.text("門市名稱"),
        is_return=is_return,
        returns_external_no=returns_external_no,
    )


POS_ORDERS = preset_for_layout(
    name="pos_orders",
    label=_("Store POS orders"),
    required=("門市代碼", "交易序號", "交易時間", "銷售金額", "交易類型"),
    parse=parse_pos_order,
    channel=STORE,
)
