"""Fixed vocabularies: the stores, the tags, Taiwanese names and email domains, sign-up
channels, page paths, payments, the statuses the web shop and the marketplaces write, and the
constants of the identifier bijections."""

from dataclasses import dataclass
from datetime import date
from itertools import accumulate

from crm.demo.constants import (
    ONLINE_WEIGHTS,
    SHARE_NO_ORDERS,
    SHARE_ONLINE_ONLY,
    SHARE_STORE_AND_ONLINE,
    SHARE_STORE_ONLY,
)
from omnichannel.channels import SalesChannel

# --- Fixed vocabularies ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoStore:
    code: str
    name: str
    city: str
    opened_on: date
    weight: int  # relative share of members who call it their home store


DEMO_STORES: tuple[DemoStore, ...] = (
    DemoStore("TPE01", "台北信義店", "台北", date(2015, 4, 1), 14),
    DemoStore("TPE02", "台北西門店", "台北", date(2016, 9, 15), 11),
    DemoStore("TPE03", "台北南西店", "台北", date(2019, 11, 1), 8),
    DemoStore("NTP01", "新北板橋店", "新北", date(2017, 3, 20), 10),
    DemoStore("NTP02", "新北新莊店", "新北", date(2021, 6, 1), 6),
    DemoStore("TYN01", "桃園中壢店", "桃園", date(2018, 7, 7), 7),
    DemoStore("HSZ01", "新竹巨城店", "新竹", date(2020, 1, 10), 6),
    DemoStore("TXG01", "台中勤美店", "台中", date(2016, 5, 5), 10),
    DemoStore("TXG02", "台中逢甲店", "台中", date(2022, 2, 18), 6),
    DemoStore("TNN01", "台南中西店", "台南", date(2018, 10, 1), 7),
    DemoStore("KHH01", "高雄巨蛋店", "高雄", date(2017, 8, 8), 9),
    DemoStore("KHH02", "高雄夢時代店", "高雄", date(2019, 4, 26), 6),
)

TAG_VIP = "VIP"
TAG_NEW_ARRIVALS = "新品愛好者"
TAG_GROUP_BUYER = "團購主"
TAG_DORMANT = "沉睡會員"
DEMO_TAGS: tuple[str, ...] = (TAG_VIP, TAG_NEW_ARRIVALS, TAG_GROUP_BUYER, TAG_DORMANT)
VIP_SPEND_TWD = 30_000

# Surname, its romanisation (Taiwanese passport style), share in percent (Ministry of the
# Interior surname statistics, rounded).
_SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("陳", "chen", 11.1),
    ("林", "lin", 8.3),
    ("黃", "huang", 6.0),
    ("張", "chang", 5.3),
    ("李", "lee", 5.1),
    ("王", "wang", 4.1),
    ("吳", "wu", 4.0),
    ("劉", "liu", 3.2),
    ("蔡", "tsai", 2.9),
    ("楊", "yang", 2.6),
    ("許", "hsu", 2.3),
    ("鄭", "cheng", 1.9),
    ("謝", "hsieh", 1.8),
    ("郭", "kuo", 1.7),
    ("洪", "hung", 1.6),
    ("曾", "tseng", 1.4),
    ("邱", "chiu", 1.4),
    ("廖", "liao", 1.3),
    ("賴", "lai", 1.3),
    ("周", "chou", 1.2),
    ("徐", "hsu", 1.1),
    ("蘇", "su", 1.1),
    ("葉", "yeh", 1.0),
    ("莊", "chuang", 0.9),
    ("呂", "lu", 0.9),
    ("江", "chiang", 0.9),
    ("何", "ho", 0.8),
    ("蕭", "hsiao", 0.8),
    ("羅", "lo", 0.8),
    ("高", "kao", 0.8),
)
_SURNAME_CUM = tuple(accumulate(weight for _, _, weight in _SURNAMES))

# fmt: off
_FEMALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("美", "mei"), ("玲", "ling"), ("雅", "ya"), ("婷", "ting"), ("怡", "yi"), ("君", "chun"),
    ("淑", "shu"), ("芬", "fen"), ("惠", "hui"), ("佳", "chia"), ("欣", "hsin"), ("宜", "yi"),
    ("靜", "ching"), ("慧", "hui"), ("萱", "hsuan"), ("涵", "han"), ("筱", "hsiao"), ("琪", "chi"),
    ("思", "szu"), ("穎", "ying"), ("郁", "yu"), ("詩", "shih"), ("心", "hsin"), ("瑜", "yu"),
    ("庭", "ting"), ("珮", "pei"), ("雯", "wen"), ("蓉", "jung"),
)
_MALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("志", "chih"), ("明", "ming"), ("家", "chia"), ("豪", "hao"), ("建", "chien"), ("宏", "hung"),
    ("俊", "chun"), ("傑", "chieh"), ("偉", "wei"), ("冠", "kuan"), ("宇", "yu"), ("承", "cheng"),
    ("翰", "han"), ("柏", "po"), ("彥", "yen"), ("文", "wen"), ("哲", "che"), ("瑋", "wei"),
    ("凱", "kai"), ("育", "yu"), ("信", "hsin"), ("銘", "ming"), ("昱", "yu"), ("廷", "ting"),
    ("國", "kuo"), ("正", "cheng"), ("嘉", "chia"), ("睿", "jui"),
)
# fmt: on

_EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 50),
    ("yahoo.com.tw", 18),
    ("hotmail.com", 10),
    ("outlook.com", 7),
    ("icloud.com", 6),
    ("msa.hinet.net", 5),
    ("yahoo.com", 4),
)
_EMAIL_DOMAIN_CUM = tuple(accumulate(weight for _, weight in _EMAIL_DOMAINS))
_ONLINE_CHANNELS = (SalesChannel.WEB, SalesChannel.MARKETPLACE, SalesChannel.APP)
_ONLINE_CUM = tuple(accumulate(ONLINE_WEIGHTS))
_PROFILES = ("none", "store", "online", "both")
_PROFILE_CUM = tuple(
    accumulate((SHARE_NO_ORDERS, SHARE_STORE_ONLY, SHARE_ONLINE_ONLY, SHARE_STORE_AND_ONLINE))
)
# Where members who never bought anything signed up.
_SIGN_UP_CHANNELS = (SalesChannel.STORE, SalesChannel.WEB, SalesChannel.APP, SalesChannel.LINE_SHOP)
_SIGN_UP_CUM = tuple(accumulate((70, 15, 10, 5)))
_PAGE_PATHS = (
    "/",
    "/products/new",
    "/products/skincare",
    "/products/bags",
    "/products/home",
    "/campaigns/anniversary",
    "/stores",
    "/members/points",
)
_PAYMENTS = ("信用卡", "信用卡", "信用卡", "ATM", "貨到付款", "LINE Pay", "街口支付")
# (status as the source writes it, status as imported, weight)
_WEB_STATUSES = (("已付款", 25), ("已出貨", 12), ("已完成", 55), ("已取消", 5), ("已退貨", 3))
_MARKETPLACE_STATUSES = (
    ("完成", 70),
    ("已出貨", 12),
    ("待出貨", 10),
    ("取消", 5),
    ("退貨", 2),
    ("退款", 1),
)
_CANCELLED = {"已取消", "取消"}

# Fixed bijections from a person's index to their identifiers. They do not depend on the seed.
_PHONE_A, _PHONE_B, _PHONE_MOD = 7_654_321, 3_141_593, 10**7
_LINE_A = 0x9E3779B97F4A7C15F39CC0605CEDC835
_LINE_B = 0x2545F4914F6CDD1D8A5CD789635D2DFF
_LINE_MOD = 2**128
_CARRIER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
_CARRIER_A, _CARRIER_B, _CARRIER_MOD = 2_654_435_761, 9_876_543_211, 39**7
_SHOPEE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SHOPEE_A, _SHOPEE_B, _SHOPEE_MOD = 1_103_515_247, 12_345_678_901, 36**8
