"""One person: who they are (name, birthday, contacts, identifiers), drawn from their index
through fixed bijections so no two people share an identifier."""

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crm.demo.constants import JOIN_SPAN, SHARE_MOMO_ACCOUNTS, SHARE_SHOPEE
from crm.demo.context import _Context
from crm.demo.encoding import _encode
from crm.demo.vocabulary import (
    _CARRIER_A,
    _CARRIER_ALPHABET,
    _CARRIER_B,
    _CARRIER_MOD,
    _EMAIL_DOMAIN_CUM,
    _EMAIL_DOMAINS,
    _FEMALE_GIVEN,
    _LINE_A,
    _LINE_B,
    _LINE_MOD,
    _MALE_GIVEN,
    _ONLINE_CHANNELS,
    _ONLINE_CUM,
    _PHONE_A,
    _PHONE_B,
    _PHONE_MOD,
    _PROFILE_CUM,
    _PROFILES,
    _SIGN_UP_CHANNELS,
    _SIGN_UP_CUM,
    _SURNAME_CUM,
    _SURNAMES,
    DemoStore,
)
from crm.models import Gender
from omnichannel.channels import SalesChannel


@dataclass(slots=True)
class _Person:
    index: int
    name: str
    given_rom: str
    surname_rom: str
    gender: str
    birthday: date | None
    joined_at: datetime  # Taipei midnight of the join day
    acquisition: str
    profile: str  # "none", "store", "online" or "both"
    online_channel: str
    store: DemoStore
    phone: str  # national form (0912345678) or ""
    email: str  # normal form or ""
    line_user_id: str
    card: str
    carrier: str
    shopee: bool
    buyer: str  # marketplace account as the platform shows it, or ""
    web_id: str
    # What the orders made of this person (filled while writing them)
    channels: set[str] = field(default_factory=set)  # channels of orders that name the person
    web_id_written: bool = False


def _person(*, ctx: _Context, index: int) -> _Person:
    rng = ctx.rng
    draw = rng.random()
    if draw < 0.62:
        gender, pool = Gender.FEMALE, _FEMALE_GIVEN
    elif draw < 0.97:
        gender, pool = Gender.MALE, _MALE_GIVEN
    else:
        gender = Gender.OTHER if draw < 0.98 else ""
        pool = _FEMALE_GIVEN if rng.random() < 0.5 else _MALE_GIVEN
    surname, surname_rom, _ = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
    (first, first_rom), (second, second_rom) = rng.choice(pool), rng.choice(pool)

    profile = rng.choices(_PROFILES, cum_weights=_PROFILE_CUM)[0]
    online_channel = rng.choices(_ONLINE_CHANNELS, cum_weights=_ONLINE_CUM)[0]
    draw = rng.random()
    if profile == "store":
        acquisition = SalesChannel.STORE if draw < 0.95 else SalesChannel.LINE_SHOP
    elif profile == "online":
        acquisition = online_channel if draw < 0.85 else SalesChannel.LINE_SHOP
    elif profile == "both":
        acquisition = SalesChannel.STORE if draw < 0.55 else online_channel
    else:
        acquisition = rng.choices(_SIGN_UP_CHANNELS, cum_weights=_SIGN_UP_CUM)[0]

    # Member numbers grow with the join date; more people joined recently than long ago.
    position = (index - 1 + rng.random()) / ctx.total
    joined = ctx.local(ctx.now - JOIN_SPAN * (1 - math.sqrt(position)))
    joined_at = joined.replace(hour=0, minute=0, second=0, microsecond=0)

    birthday = None
    has_birthday = rng.random() < 0.88
    age = min(max(rng.gauss(36, 11), 16), 78)
    day_of_year = rng.randrange(365)
    if has_birthday:
        birthday = joined.date() - timedelta(days=int(age * 365.25) + day_of_year)

    buys_online = profile in ("online", "both")
    in_store = profile in ("store", "both") or acquisition == SalesChannel.STORE
    # The web shop and the marketplaces need an email or a phone to deliver: online buyers
    # always have a phone, web buyers an email.
    has_phone = buys_online or rng.random() < 0.96
    has_email = (buys_online and online_channel == SalesChannel.WEB) or rng.random() < (
        0.9 if buys_online else 0.5
    )
    # A store buyer without a card gives a phone at the till.
    has_card = in_store and (rng.random() < 0.85 or not has_phone)
    shopee = rng.random() < SHARE_SHOPEE
    has_buyer = shopee or rng.random() < SHARE_MOMO_ACCOUNTS
    return _Person(
        index=index,
        name=surname + first + second,
        given_rom=first_rom + second_rom,
        surname_rom=surname_rom,
        gender=gender,
        birthday=birthday,
        joined_at=joined_at,
        acquisition=acquisition,
        profile=profile,
        online_channel=online_channel,
        store=ctx.pick_store(),
        phone=f"09{rng.randrange(10)}{(_PHONE_A * index + _PHONE_B) % _PHONE_MOD:07d}"
        if has_phone
        else "",
        email=_email(rng=rng, index=index, given=first_rom + second_rom, surname=surname_rom)
        if has_email
        else "",
        line_user_id=f"U{(_LINE_A * index + _LINE_B) % _LINE_MOD:032x}"
        if rng.random() < 0.7
        else "",
        card=f"A{index:08d}" if has_card else "",
        carrier="/"
        + _encode(
            (_CARRIER_A * index + _CARRIER_B) % _CARRIER_MOD, alphabet=_CARRIER_ALPHABET, width=7
        )
        if in_store and rng.random() < 0.25
        else "",
        shopee=shopee,
        buyer=f"{first_rom.capitalize()}{second_rom}_{surname_rom}{index}" if has_buyer else "",
        web_id=f"C-{index + 10_000}",
    )


def _email(*, rng: random.Random, index: int, given: str, surname: str) -> str:
    # The local part ends in the person's index, so it is unique whatever the name.
    local = rng.choice(
        (f"{given}.{surname}{index}", f"{surname}{given}{index}", f"{given}_{surname}{index}")
    )
    return f"{local}@{rng.choices(_EMAIL_DOMAINS, cum_weights=_EMAIL_DOMAIN_CUM)[0][0]}"
