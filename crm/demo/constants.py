"""How much of what: the demo's size limits, the overlap between sources (the shares the
tests hold the seed to), the time spans, the files and their presets, the errors."""

from datetime import timedelta

DEFAULT_MEMBERS = 20_000
DEFAULT_SEED = 1
FEED_BATCH_SIZE = 5_000  # app records resolved and written at a time

MEMBER_NO_PREFIX = "M"
MEMBER_NO_DIGITS = 7
MAX_PEOPLE = (10**MEMBER_NO_DIGITS - 1) // 2  # the duplicates' numbers follow the people's

# --- Who shows up where: the overlap between sources ----------------------------------------
# What people buy, in shares of all people (they add up to 1).
SHARE_NO_ORDERS = 0.08
SHARE_STORE_ONLY = 0.38
SHARE_ONLINE_ONLY = 0.24
SHARE_STORE_AND_ONLINE = 0.30  # in the POS file and in an online source: the omnichannel case
# Where online buyers mostly buy (web shop, marketplace, app); a quarter of their online
# orders go to another of the three.
ONLINE_WEIGHTS = (45, 35, 20)
SHARE_OTHER_ONLINE = 0.25
# Web buyers the member list holds twice: a store registration (phone, card) and an app one
# (email, LINE). Their first web order carries both phone and email, which merges the two.
SHARE_DUPLICATED_WEB_BUYERS = 0.10
# POS sales where the member gave no card, phone or carrier (anonymous, like a walk-in), and
# walk-in sales per member store sale.
SHARE_STORE_SALES_UNIDENTIFIED = 0.04
WALK_INS_PER_MEMBER_SALE = 1 / 9
SHARE_STORE_SALES_RETURNED = 0.015  # of which 30 % partly
# Marketplace: Shopee always exports the buyer account and masks most phones (never the
# first order's, so an account always meets a phone); momo exports an account for some
# buyers and masks few phones: a masked momo order without an account is anonymous.
SHARE_SHOPEE = 0.75
SHARE_SHOPEE_PHONES_MASKED = 0.6
SHARE_MOMO_ACCOUNTS = 0.4
SHARE_MOMO_PHONES_MASKED = 0.15
SHARE_WITH_TOUCHPOINTS = 0.3

JOIN_SPAN = timedelta(days=3 * 365)
ORDER_SPAN = timedelta(days=2 * 365)
TOUCHPOINT_SPAN = timedelta(days=180)
DORMANT_AFTER = timedelta(days=365)
STORE_OPENS, STORE_CLOSES = 11, 22  # local hours; POS sales happen in between

# File name → preset, in the order of import.
DEMO_FILES: tuple[tuple[str, str], ...] = (
    ("members.csv", "members"),
    ("members_app.csv", "members"),
    ("pos_orders.csv", "pos_orders"),
    ("web_orders.csv", "web_orders"),
    ("marketplace_orders.csv", "marketplace_orders"),
    ("consent_changes.csv", "members"),
)
APP_FEED = "app_feed.jsonl"

ERROR_NOT_EMPTY = (
    "The database already holds members or orders; use --if-empty to leave it alone, or seed "
    "an empty database."
)
ERROR_TOO_MANY = "At most {most:,} demo people (asked for {count:,})."
ERROR_BAD_COUNT = "Members must be at least 1 (got {members})."
ERROR_IMPORT = "The demo file {name} did not import cleanly: {detail}"


class DemoSeedError(Exception):
    pass


class DemoDatabaseNotEmpty(DemoSeedError):
    pass
