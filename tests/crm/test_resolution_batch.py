"""Set-wise resolution of a batch gives the same people as resolving record by record."""

import random

import pytest
from django.utils import timezone

from crm.models import Identity, Member, MergeLog
from crm.services import (
    BatchRecord,
    Identifier,
    MemberProfile,
    member_numbers_allocate,
    member_resolve,
    members_resolve_batch,
)

pytestmark = pytest.mark.django_db


def phone(n: int) -> Identifier:
    return Identifier("phone", f"+8869{n:08d}")


def email(n: int) -> Identifier:
    return Identifier("email", f"p{n}@example.com")


def card(n: int) -> Identifier:
    return Identifier("pos_card", f"A{n:08d}")


def resolve(records):
    return members_resolve_batch(records=records, source="store", at=timezone.now())


def test_records_sharing_nothing_become_separate_members():
    result = resolve([BatchRecord([phone(1)]), BatchRecord([email(2)]), BatchRecord([])])

    assert result.members_created == 2
    assert result.member_ids[2] is None  # anonymous sale
    assert len(set(result.member_ids[:2])) == 2


def test_a_chain_inside_the_batch_is_one_member():
    result = resolve(
        [
            BatchRecord([phone(1)]),
            BatchRecord([phone(1), email(1)]),
            BatchRecord([email(1), card(1)]),
            BatchRecord([card(1)]),
        ]
    )

    assert result.members_created == 1
    assert len(set(result.member_ids)) == 1
    assert Identity.objects.filter(member_id=result.member_ids[0]).count() == 3


def test_batch_attaches_to_an_existing_member():
    existing = member_resolve(identifiers=[phone(1)], source="store").member

    result = resolve([BatchRecord([phone(1), email(1)])])

    assert result.member_ids == [existing.pk]
    assert result.members_created == 0
    assert set(existing.identities.values_list("kind", flat=True)) == {"phone", "email"}


def test_batch_that_links_two_existing_members_merges_them_into_the_oldest():
    older = member_resolve(identifiers=[phone(1)], source="store").member
    newer = member_resolve(identifiers=[email(1)], source="web").member

    result = resolve(
        [
            BatchRecord([phone(1)]),
            BatchRecord([phone(1), card(1)]),
            BatchRecord([email(1), card(1)]),
        ]
    )

    assert result.member_ids == [older.pk] * 3
    assert result.merges == 1
    log = MergeLog.objects.get()
    assert (log.survivor_id, log.merged_id) == (older.pk, newer.pk)
    assert log.matched_keys == [phone(1).key, email(1).key]


def test_member_number_links_records_and_is_kept():
    result = resolve(
        [
            BatchRecord([phone(1)], member_no="M000123", profile=MemberProfile(name="王小明")),
            BatchRecord([email(1)], member_no="M000123"),
        ]
    )

    member = Member.objects.get()
    assert result.member_ids == [member.pk, member.pk]
    assert (member.member_no, member.name) == ("M000123", "王小明")


def test_profile_fills_blanks_of_existing_members_only():
    existing = member_resolve(
        identifiers=[phone(1)], source="store", profile=MemberProfile(name="陳美玲")
    ).member

    resolve([BatchRecord([phone(1)], profile=MemberProfile(name="別名", gender="female"))])

    existing.refresh_from_db()
    assert (existing.name, existing.gender) == ("陳美玲", "female")


def test_generated_member_numbers_never_repeat():
    first = member_numbers_allocate(count=3)
    second = member_numbers_allocate(count=2)

    numbers = [int(no.removeprefix("OC")) for no in first + second]
    assert all(len(no) == 11 and no.startswith("OC") for no in first + second)
    assert numbers == sorted(set(numbers))  # increasing, never repeated


@pytest.mark.django_db(transaction=True)
def test_a_member_number_does_not_wait_for_another_transaction_to_commit():
    import threading

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time; numbers come from a row there")
    taken: list[str] = []

    def other_caller():
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        taken.extend(member_numbers_allocate(count=1))
        connection.close()

    with transaction.atomic():
        mine = member_numbers_allocate(count=1)
        thread = threading.Thread(target=other_caller)
        thread.start()
        thread.join(timeout=10)

    assert taken and taken != mine


def test_random_batches_in_any_order_find_exactly_the_real_people():
    # Given 60 people, each with up to three identifiers, seen in records that carry one or two
    # of them (so people are only linked through chains across records and batches)...
    rng = random.Random(42)
    people = {p: [phone(p), email(p), card(p)][: rng.randint(1, 3)] for p in range(60)}
    records = []
    for ids in people.values():
        records.extend(BatchRecord(rng.sample(ids, rng.randint(1, len(ids)))) for _ in range(3))
        # Ground truth needs every identifier of a person linked: one record ties them all.
        records.append(BatchRecord(ids))
    rng.shuffle(records)

    # ...resolved in batches of 25, in shuffled order...
    for start in range(0, len(records), 25):
        resolve(records[start : start + 25])

    # ...every person is exactly one active member holding all their identifiers.
    assert Member.objects.filter(status="active").count() == len(people)
    for ids in people.values():
        owners = set(
            Identity.objects.filter(value__in=[i.value for i in ids]).values_list(
                "member_id", flat=True
            )
        )
        assert len(owners) == 1


def test_many_merges_in_one_batch_take_a_fixed_number_of_queries(django_assert_max_num_queries):
    # Given 40 people each known twice (by phone and by email, as two members)
    for n in range(40):
        resolve([BatchRecord([phone(n)])])
        resolve([BatchRecord([email(n)])])

    # When one batch ties every phone to its email, 40 merges run set-wise.
    with django_assert_max_num_queries(30):
        result = resolve([BatchRecord([phone(n), email(n)]) for n in range(40)])

    assert result.merges == 40
    assert Member.objects.filter(status=Member.Status.ACTIVE).count() == 40
    assert MergeLog.objects.count() == 40
    log = MergeLog.objects.get(survivor__identities__value=phone(7).value)
    assert log.matched_keys == [phone(7).key, email(7).key]


def test_an_erased_members_number_identifies_no_one(alice):
    from crm.services import member_forget

    erased = resolve([BatchRecord([phone(1)], member_no="M000001")]).member_ids[0]
    member_forget(member=Member.objects.get(pk=erased), reason="PDPA request 1", actor=alice)

    result = resolve([BatchRecord([email(2)], member_no="M000001")])

    (member_id,) = result.member_ids
    assert member_id != erased
    assert Member.objects.get(pk=member_id).member_no.startswith("OC")
    assert not Identity.objects.filter(member_id=erased).exists()


def test_a_messaging_source_is_no_acquisition_channel():
    result = members_resolve_batch(
        records=[BatchRecord([phone(1)])], source="line", at=timezone.now()
    )

    assert Member.objects.get(pk=result.member_ids[0]).acquisition_channel == ""
