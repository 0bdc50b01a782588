"""The member lists: the old CRM's rows of a person (and their app duplicate), and the later
list in which some members changed their consent."""

from crm.demo.context import _Context, _Out, member_no_for
from crm.demo.orders import _CONSENT_RULES
from crm.demo.people import _Person
from crm.source_files import (
    GENDERS,
    MEMBER_DATE,
    spell_birthday,
    spell_card,
    spell_carrier,
    spell_email,
    spell_phone,
)
from omnichannel.channels import MessagingChannel, SalesChannel

SHARE_NO_TURNED_YES = 0.05
# Push: share of app users with a decision, and of those that are a yes.
PUSH_DECIDED, PUSH_YES = 0.8, 0.7


def _members_rows(
    *, ctx: _Context, out: _Out, person: _Person, duplicate_no: str
) -> dict[str, str]:
    """The person's member-list row(s); returns their consent answers by channel (Y, N)."""
    rng = ctx.rng
    answers: dict[str, str] = {}
    for channel, needs, decided, yes, _ in _CONSENT_RULES:
        if getattr(person, needs) and rng.random() < decided:
            answers[channel] = "Y" if rng.random() < yes else "N"
    channel = person.acquisition
    joined_via = ctx.channel_labels[channel] if rng.random() < 0.3 else channel
    # A duplicate's first record (store: phone, card) leaves email and LINE to the app one.
    app_only = {MessagingChannel.EMAIL, MessagingChannel.LINE} if duplicate_no else set()
    out.row(
        "members.csv",
        (
            member_no_for(person.index),
            person.name,
            spell_phone(person.phone, rng) if person.phone else "",
            spell_email(person.email, rng) if person.email and not duplicate_no else "",
            spell_birthday(person.birthday, rng) if person.birthday else "",
            GENDERS[person.gender],
            person.line_user_id if not duplicate_no else "",
            spell_card(person.card, rng) if person.card else "",
            spell_carrier(person.carrier, rng) if person.carrier else "",
            f"{person.joined_at:{MEMBER_DATE}}",
            joined_via,
            answers.get(MessagingChannel.SMS, ""),
            "" if app_only else answers.get(MessagingChannel.EMAIL, ""),
            "" if app_only else answers.get(MessagingChannel.LINE, ""),
        ),
    )
    if duplicate_no:
        registered = person.joined_at + (ctx.now - person.joined_at) * rng.random()
        out.row(
            "members_app.csv",
            (
                duplicate_no,
                person.name,
                "",
                spell_email(person.email, rng),
                "",
                "",
                person.line_user_id,
                "",
                "",
                f"{ctx.local(registered):{MEMBER_DATE}}",
                SalesChannel.APP,
                "",
                answers.get(MessagingChannel.EMAIL, ""),
                answers.get(MessagingChannel.LINE, ""),
            ),
        )
    return answers


def _consent_changes(
    *, ctx: _Context, out: _Out, person: _Person, consents: dict[str, str]
) -> None:
    """A later member-list export: yeses withdrawn, a few noes turned into yeses."""
    rng = ctx.rng
    changed = {}
    for channel, _, _, _, withdrawn in _CONSENT_RULES:
        answer = consents.get(channel)
        if answer == "Y" and rng.random() < withdrawn:
            changed[channel] = "N"
        elif answer == "N" and rng.random() < SHARE_NO_TURNED_YES:
            changed[channel] = "Y"
    if changed:
        blank = ("",) * 10
        out.row(
            "consent_changes.csv",
            (
                member_no_for(person.index),
                *blank,
                changed.get(MessagingChannel.SMS, ""),
                changed.get(MessagingChannel.EMAIL, ""),
                changed.get(MessagingChannel.LINE, ""),
            ),
        )
