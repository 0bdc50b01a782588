"""Cards other apps add to the 360° profile (points, tier, wallet card), without touching crm.

A card is a template and a function giving its context for a member, or None when the card
has nothing to show for that member (then it is left out: the profile shows no empty or made-up
figures). Apps register their cards in AppConfig.ready():

    register_profile_card(ProfileCard("loyalty", "loyalty/profile_card.html", points_card))
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omnichannel.registry import Registry

CardContext = Callable[[Any], dict | None]  # member -> context, or None to show nothing


@dataclass(frozen=True)
class ProfileCard:
    name: str
    template: str
    context: CardContext


@dataclass(frozen=True)
class RenderedCard:
    card: ProfileCard
    context: dict


PROFILE_CARDS: Registry[ProfileCard] = Registry("profile card", key=lambda card: card.name)


def register_profile_card(card: ProfileCard) -> None:
    """Raises omnichannel.registry.AlreadyRegistered for a name that is taken."""
    PROFILE_CARDS.register(card)


def profile_cards() -> list[ProfileCard]:
    return PROFILE_CARDS.all()


def profile_cards_for(member) -> list[RenderedCard]:
    """The registered cards that have something to show for this member, in registry order."""
    rendered = []
    for card in profile_cards():
        context = card.context(member)
        if context is not None:
            rendered.append(RenderedCard(card=card, context=context))
    return rendered
