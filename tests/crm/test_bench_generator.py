"""bench/gen_orders.py: exact layouts, deterministic, and its ground truth is what imports find."""

import csv

import pytest

from bench.gen_orders import FILES, generate, misplaced_orders
from crm.imports import get_preset, parse_file
from crm.models import Member, Order
from crm.services.imports import import_file_run
from crm.source_files import HEADERS

ROWS = 2_000

README_HEADERS = {  # formats/README.md, verbatim
    "pos_orders": (
        "門市代碼,門市名稱,交易序號,交易時間,會員卡號,會員手機,發票號碼,載具號碼,"
        "銷售金額,交易類型,原交易序號"
    ),
    "web_orders": (
        "訂單號碼,訂單日期,訂單狀態,顧客ID,顧客姓名,顧客Email,顧客電話,會員卡號,訂單合計,付款方式"
    ),
    "marketplace_orders": (
        "平台,訂單編號,訂單成立日期,訂單狀態,買家帳號,收件者姓名,收件者電話,商品總價"
    ),
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("orders")
    return out, generate(ROWS, seed=7, out_dir=out)


def test_files_have_the_exact_headers_and_the_rows_asked_for(generated):
    out, truth = generated
    total = 0
    for preset, filename in FILES:
        with open(out / filename, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            assert ",".join(next(reader)) == README_HEADERS[preset]
            assert tuple(README_HEADERS[preset].split(",")) == HEADERS[preset]
            rows = sum(1 for _ in reader)
        assert rows == truth.counts[preset]
        total += rows
    assert total == ROWS == truth.rows
    assert 0.15 * ROWS <= truth.population <= 0.25 * ROWS


def test_the_spellings_of_formats_readme_occur(generated):
    out, _ = generated
    text = "".join((out / filename).read_text(encoding="utf-8-sig") for _, filename in FILES)
    for needle in (",+886 9", ",00886", ",886", "０９", "＠", "******", "退貨", "已取消", '"1,'):
        assert needle in text, needle


def test_generation_is_deterministic_for_a_seed(generated, tmp_path):
    out, truth = generated
    again = generate(ROWS, seed=7, out_dir=tmp_path / "again")
    generate(ROWS, seed=8, out_dir=tmp_path / "other")
    assert again == truth
    for _, filename in FILES:
        assert (tmp_path / "again" / filename).read_bytes() == (out / filename).read_bytes()
    assert (tmp_path / "other" / "pos_orders.csv").read_bytes() != (
        out / "pos_orders.csv"
    ).read_bytes()


def test_ground_truth_is_the_components_of_the_identifiers_the_parsers_read(generated):
    """An independent count: union-find over the normal forms the presets parse from the files."""
    out, truth = generated
    parent: dict = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    order_nodes = {}
    for preset_name, filename in FILES:
        preset = get_preset(preset_name)
        for row in parse_file(out / filename, filename=filename, preset=preset):
            assert row.ok, row.errors
            nodes = [identifier.key for identifier in row.identifiers.identifiers]
            for node in nodes[1:]:
                parent[find(node)] = find(nodes[0])
            if nodes:
                find(nodes[0])
            order_nodes[(preset.channel, row.order.external_no)] = nodes[0] if nodes else None
    assert len({find(node) for node in list(parent)}) == truth.people
    # The sample's components are the parsed components, one to one.
    pairs = {
        (component, find(order_nodes[(channel, no)]))
        for channel, no, component in truth.sample
        if component is not None
    }
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
    assert all(
        order_nodes[(channel, no)] is None
        for channel, no, component in truth.sample
        if component is None
    )


@pytest.mark.django_db
def test_import_finds_exactly_the_ground_truth(generated):
    out, truth = generated
    for preset, filename in FILES:
        result = import_file_run(source=out / filename, filename=filename, preset_name=preset)
        assert result.failed == 0

    assert Member.objects.filter(status=Member.Status.ACTIVE).count() == truth.people
    member_of = {
        (channel, no): member
        for channel, no, member in Order.objects.values_list("channel", "external_no", "member")
    }
    assert len(member_of) == ROWS
    assert misplaced_orders(truth.sample, member_of) == 0
    assert len(truth.sample) == ROWS  # small files: every order is sampled


def test_misplaced_orders_sees_splits_merges_and_anonymous_orders():
    sample = [("web", "1", 1), ("web", "2", 1), ("web", "3", 2), ("store", "4", None)]
    right = {("web", "1"): 10, ("web", "2"): 10, ("web", "3"): 11, ("store", "4"): None}
    assert misplaced_orders(sample, right) == 0
    split = {("web", "1"): 10, ("web", "2"): 12, ("web", "3"): 11, ("store", "4"): None}
    assert misplaced_orders(sample, split) == 1
    merged = {("web", "1"): 10, ("web", "2"): 10, ("web", "3"): 10, ("store", "4"): None}
    assert misplaced_orders(sample, merged) == 1
    claimed = {("web", "1"): 10, ("web", "2"): 10, ("web", "3"): 11, ("store", "4"): 10}
    assert misplaced_orders(sample, claimed) == 1
    assert misplaced_orders(sample, {}) == 4
