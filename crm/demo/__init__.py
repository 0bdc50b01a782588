"""Deterministic demo data for a Taiwanese retail brand (the `seed_demo` command).

The demo goes in the way the brand's data does. It writes the brand's export files in the
layouts of formats/README.md (crm.source_files) into a folder, streamed row by row:

- members.csv: the member list of the old CRM (member numbers M0000001…), every person once;
- members_app.csv: people who registered a second time in the app with another email and
  LINE account (the old CRM's duplicates), with member numbers after the people's;
- pos_orders.csv, web_orders.csv, marketplace_orders.csv: what the till, the web shop and
  Shopee/momo export, with identifiers in every spelling the formats file lists, masked
  marketplace phones, anonymous store sales, POS returns (whole and partial), cancelled and
  returned online orders;
- consent_changes.csv: a later member-list export in which some members withdrew or gave
  consent (so the consent history has more than one row);
- app_feed.jsonl: what the app sends the ingest API: app orders, push consent, store visits
  and page views (there is no preset for them).

Then it imports them in that order with `import_file_run`, one preset each, and feeds the app
records through the same batch services the API and the imports use (members_resolve_batch,
orders_upsert, consents_record_batch, touchpoints_write_batch). So identity resolution, the
merges of duplicates, the linking of returns and the consent history all come out of the real
services. Home stores are worked out from the store orders (members_home_store_fill); the tags
(VIP, dormant, …) are set from what the members bought.

The overlap between sources is deliberate and its rates are in constants.py (asserted by
tests/crm/test_seed_demo.py): every person is in the member list and is exactly one active
member in the end; SHARE_STORE_AND_ONLINE of them buy both in a store and online, so the same
person shows up in the POS file and in the web, marketplace or app records; a share of web
buyers is in the member list twice and is merged by a web order that carries both the phone
of one record and the email of the other. `DemoPlan` counts what was written, so a test can
hold the database against it.

Determinism: every random draw comes from one random.Random(seed) and every date is relative
to the start of the day the seed runs (Taipei midnight; the demo ends with last night's
exports), so two runs with the same seed on one day give the same data, and on another day the
same data shifted by whole days (Taiwan has no daylight saving time). Identifiers come from a
person's index through fixed bijections, so no two people share one. Times are Taipei local
time, amounts whole NT$.

Scale: one person is generated at a time and their rows go straight to disk; the imports
stream the files. Nothing holds more than one person or one import batch of rows.

Layout (one concern per module, each importing only the ones above it):

- constants.py: sizes, the overlap shares, spans, files and presets, errors
- vocabulary.py: stores, tags, names, statuses and the other fixed vocabularies
- encoding.py: numbers into order numbers and identifiers
- context.py: one run's state (the plan, the random source and clock, the open files)
- people.py: one person, drawn from their index
- orders.py: a person's purchases in the POS, web shop, marketplace and app records
- member_lists.py: the member lists and the later consent changes
- app_feed.py: the app's records, written and fed through the batch services
- files.py: every person's rows into the brand's files (`demo_files_write`)
- seed.py: the seeding itself (`demo_seed`): files, imports, stores, tags, figures
"""

from crm.demo.constants import (
    APP_FEED,
    DEFAULT_MEMBERS,
    DEFAULT_SEED,
    DEMO_FILES,
    ERROR_BAD_COUNT,
    ERROR_IMPORT,
    ERROR_NOT_EMPTY,
    ERROR_TOO_MANY,
    MAX_PEOPLE,
    SHARE_STORE_AND_ONLINE,
    DemoDatabaseNotEmpty,
    DemoSeedError,
)
from crm.demo.context import DemoPlan, member_no_for
from crm.demo.files import demo_files_write
from crm.demo.seed import DemoSeedResult, ProgressCallback, demo_database_has_data, demo_seed

__all__ = [
    "APP_FEED",
    "DEFAULT_MEMBERS",
    "DEFAULT_SEED",
    "DEMO_FILES",
    "ERROR_BAD_COUNT",
    "ERROR_IMPORT",
    "ERROR_NOT_EMPTY",
    "ERROR_TOO_MANY",
    "MAX_PEOPLE",
    "SHARE_STORE_AND_ONLINE",
    "DemoDatabaseNotEmpty",
    "DemoPlan",
    "DemoSeedError",
    "DemoSeedResult",
    "ProgressCallback",
    "demo_database_has_data",
    "demo_files_write",
    "demo_seed",
    "member_no_for",
]
