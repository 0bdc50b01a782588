"""factory_boy factories: small, consistent objects for tests (`.build()` needs no database).

Identifiers go through crm.normalize, so a factory-made Identity holds its normal form whatever
spelling the test hands in as `raw`.
"""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from crm import normalize
from crm.models import Consent, Gender, Identity, Member, Order, Store, Tag
from omnichannel.channels import MessagingChannel, SalesChannel

TEST_PASSWORD = "pass-for-tests"

_NORMALIZERS = {
    Identity.Kind.PHONE: normalize.normalize_phone,
    Identity.Kind.EMAIL: normalize.normalize_email,
    Identity.Kind.LINE_USER_ID: normalize.normalize_line_user_id,
    Identity.Kind.POS_CARD: normalize.normalize_card,
    Identity.Kind.EINVOICE_CARRIER: normalize.normalize_einvoice_carrier,
    Identity.Kind.MARKETPLACE_BUYER: lambda raw: normalize.fold_width(raw).lower(),
}


def _raw_identifier(kind: str, n: int) -> str:
    """The n-th identifier of a kind, in a spelling real files use (not yet normalised)."""
    if kind == Identity.Kind.PHONE:
        digits = f"09{n % 10**8:08d}"
        spellings = (
            f"{digits[:4]}-{digits[4:7]}-{digits[7:]}",
            f"+886 {digits[1:4]} {digits[4:7]} {digits[7:]}",
            digits,
            digits.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        )
        return spellings[n % len(spellings)]
    if kind == Identity.Kind.EMAIL:
        return f" Member.{n}@Example.com "
    if kind == Identity.Kind.LINE_USER_ID:
        return f"U{n:032x}"
    if kind == Identity.Kind.POS_CARD:
        return f"a{n:08d}"
    if kind == Identity.Kind.EINVOICE_CARRIER:
        return f"/T{n % 10**6:06d}"
    if kind == Identity.Kind.MARKETPLACE_BUYER:
        return f"shopee:Buyer_{n}"
    return f"{kind}-{n}"


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"TST{n:02d}")
    name = factory.LazyAttribute(lambda o: f"測試{o.code}店")
    city = "台北"


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member

    # High numbers, so they never meet seed_demo's M0000001… in the same test.
    member_no = factory.Sequence(lambda n: f"M{9_000_000 + n:07d}")
    name = factory.Faker("name", locale="zh_TW")
    birthday = factory.Faker("date_of_birth", minimum_age=18, maximum_age=70)
    gender = Gender.FEMALE
    home_store = factory.SubFactory(StoreFactory)
    joined_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    acquisition_channel = factory.LazyAttribute(
        lambda o: SalesChannel.STORE if o.home_store else SalesChannel.WEB
    )

    class Params:
        online = factory.Trait(home_store=None, acquisition_channel=SalesChannel.WEB)


class IdentityFactory(DjangoModelFactory):
    """A phone by default; `IdentityFactory(email=True)` or `kind=…`, `raw=` for a spelling."""

    class Meta:
        model = Identity

    class Params:
        raw = factory.LazyAttributeSequence(lambda o, n: _raw_identifier(o.kind, n))
        email = factory.Trait(kind=Identity.Kind.EMAIL)
        line = factory.Trait(kind=Identity.Kind.LINE_USER_ID)
        card = factory.Trait(kind=Identity.Kind.POS_CARD)

    member = factory.SubFactory(MemberFactory)
    kind = Identity.Kind.PHONE
    value = factory.LazyAttribute(lambda o: _NORMALIZERS.get(o.kind, str.strip)(o.raw))
    source = factory.LazyAttribute(lambda o: o.member.acquisition_channel or SalesChannel.STORE)
    first_seen_at = factory.SelfAttribute("member.joined_at")
    last_seen_at = factory.LazyFunction(timezone.now)


class ConsentFactory(DjangoModelFactory):
    class Meta:
        model = Consent

    member = factory.SubFactory(MemberFactory)
    channel = MessagingChannel.EMAIL
    state = Consent.State.OPTED_IN
    source = factory.LazyAttribute(lambda o: o.member.acquisition_channel)
    at = factory.LazyFunction(timezone.now)

    class Params:
        opted_out = factory.Trait(state=Consent.State.OPTED_OUT)


class OrderFactory(DjangoModelFactory):
    """A store sale at the member's home store; `channel="web"` gives an online order."""

    class Meta:
        model = Order

    class Params:
        in_store = factory.LazyAttribute(lambda o: o.channel == SalesChannel.STORE)
        home_store = factory.LazyAttribute(lambda o: o.member.home_store if o.member else None)
        anonymous = factory.Trait(member=None)

    member = factory.SubFactory(MemberFactory)
    channel = SalesChannel.STORE
    # A store sale happens at the member's home store, or at a store of its own.
    store = factory.Maybe(
        "in_store",
        yes_declaration=factory.Maybe(
            "home_store",
            yes_declaration=factory.SelfAttribute("home_store"),
            no_declaration=factory.SubFactory(StoreFactory),
        ),
        no_declaration=None,
    )
    placed_at = factory.LazyFunction(timezone.now)
    external_no = factory.LazyAttributeSequence(
        lambda o, n: (
            f"{o.store.code}-{o.placed_at:%Y%m%d}-{n % 10_000:04d}"
            if o.store
            else f"W{o.placed_at:%Y%m%d}{n % 100_000:05d}"
        )
    )
    amount_twd = 1_280
    status = Order.Status.PLACED


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"標籤{n}")

    @factory.post_generation
    def members(self, create: bool, extracted: list[Member] | None, **kwargs: object) -> None:
        if create and extracted:
            self.members.add(*extracted)


class UserFactory(DjangoModelFactory):
    """A staff-less user whose password is TEST_PASSWORD (or `password=` when given)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or TEST_PASSWORD)
        if create:
            self.save(update_fields=["password"])
